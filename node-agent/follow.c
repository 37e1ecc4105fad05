// SPDX-License-Identifier: Apache-2.0
/* Starting to follow a container (see follow.h). */
#include "follow.h"

#include <errno.h>
#include <string.h>

#include "capture.h"
#include "container.h"

int follow_target(struct capture *c, const struct target *t, sweep_found_fn found, void *arg,
		  struct follow_start *out)
{
	struct sa_target_val val = { .id = t->id, .init = (uint32_t)t->pid, .nsid = t->nsid };
	struct sweep_scope scope = { .id = t->id, .mntns = t->mntns, .nsid = t->nsid,
				     .init = t->pid };
	char cid[CONTAINER_ID_MAX];
	int err;

	memset(out, 0, sizeof(*out));
	if ((err = capture_target_add(c, t->mntns, &val)))
		return err;
	if (container_parse_id(t->spec, cid, sizeof(cid)) == 0)
		scope.cid = cid;
	sweep_container(c, &scope, found, arg, &out->sweep);
	return 0;
}
