// SPDX-License-Identifier: Apache-2.0
/* Starting to follow a container (see follow.h). */
#include "follow.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "capture.h"
#include "clock.h"
#include "container.h"

int follow_target(struct capture *c, const struct target *t, sweep_found_fn found, void *arg,
		  struct follow_start *out)
{
	struct sa_target_val prev, val = { .id = t->id, .init = (uint32_t)t->pid, .nsid = t->nsid,
					   .flags = t->kflags };
	struct sweep_scope scope = { .id = t->id, .mntns = t->mntns, .nsid = t->nsid,
				     .init = t->pid };
	char cid[CONTAINER_ID_MAX];
	uint64_t unread = 0;
	int err;

	memset(out, 0, sizeof(*out));
	/* Read before the update: what the previous agent left says whether
	 * this container was followed all along. */
	out->continuous = capture_resumed(c) && capture_target_get(c, t->mntns, &prev) == 0 &&
			  prev.id == t->id && prev.nsid == t->nsid && prev.init == val.init;
	if ((err = capture_target_add(c, t->mntns, &val)))
		return err;
	if (container_parse_id(t->spec, cid, sizeof(cid)) == 0)
		scope.cid = cid;
	sweep_container(c, &scope, found, arg, &out->sweep);
	if (out->continuous)
		return 0;
	out->since = t->start ? clock_from_boot_ticks(t->start) : 0;
	if (capture_resumed(c)) {
		out->reason = "target-added";
		snprintf(out->text, sizeof(out->text),
			 "auditing of this container starts: nothing it ran before was captured");
	} else if (capture_replaced(c, &unread)) {
		out->reason = "capture-state-replaced";
		snprintf(out->text, sizeof(out->text),
			 "the capture state of another agent build or settings was replaced: "
			 "%" PRIu64 " events it held for no agent were lost, and nothing was "
			 "captured between it and this agent",
			 unread);
	} else {
		out->reason = "no-capture-state";
		snprintf(out->text, sizeof(out->text),
			 "no capture state was kept on this node (the agent's first start, a node "
			 "restart, an uninstall, or no BPF file system): nothing was captured "
			 "before this agent started");
	}
	return 0;
}
