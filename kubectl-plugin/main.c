// SPDX-License-Identifier: Apache-2.0
/* kubectl-shellaudit: flags, then the subcommand. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "help.h"
#include "log.h"
#include "timefmt.h"

struct main_command {
	const char *name;
	int (*run)(struct cli *cli);
	unsigned flags; /* the enum cli_flag bits it takes */
	int min_args, max_args;
};

static const struct main_command main_commands[] = {
	{ "sessions", cmd_sessions,
	  CLI_F_POD | CLI_F_CONTAINER | CLI_F_USER | CLI_F_SINCE | CLI_F_OUTPUT | CLI_F_ALL_NS, 0,
	  0 },
	{ "show", cmd_show, CLI_F_OUTPUT | CLI_F_ALL_NS, 1, 1 },
	{ "logs", cmd_logs, CLI_F_CONTAINER | CLI_F_FOLLOW | CLI_F_SINCE | CLI_F_OUTPUT, 1, 1 },
	{ "verify", cmd_verify, CLI_F_CONTAINER, 1, 1 },
};

static const char *const main_flag_names[] = { "--pod",		  "--container", "--user",
					       "--since",	  "--follow",	 "--output",
					       "--all-namespaces" };

static int main_usage_error(const char *command, const char *fmt, const char *arg)
{
	fputs("error: ", stderr);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nSee 'kubectl shellaudit %s%s--help' for usage.\n",
		command ? command : "", command ? " " : "");
	return CLI_ERROR;
}

int main(int argc, char **argv)
{
	enum { OPT_KUBECONFIG = 256, OPT_CONTEXT, OPT_POD, OPT_USER, OPT_SINCE, OPT_VERSION };
	static const struct option longopts[] = {
		{ "kubeconfig", required_argument, NULL, OPT_KUBECONFIG },
		{ "context", required_argument, NULL, OPT_CONTEXT },
		{ "namespace", required_argument, NULL, 'n' },
		{ "all-namespaces", no_argument, NULL, 'A' },
		{ "output", required_argument, NULL, 'o' },
		{ "pod", required_argument, NULL, OPT_POD },
		{ "container", required_argument, NULL, 'c' },
		{ "user", required_argument, NULL, OPT_USER },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	struct cli cli = { 0 };
	const struct main_command *cmd = NULL;
	const char *name = NULL, *no_color = getenv("NO_COLOR");
	long long secs;
	bool help = false;
	size_t i;
	int opt, b;

	log_set_level(LOG_ERROR);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":n:Ao:c:fh", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_KUBECONFIG: cli.kubeconfig = optarg; break;
		case OPT_CONTEXT: cli.context = optarg; break;
		case 'n': cli.ns = optarg; break;
		case 'A':
			cli.all_ns = true;
			cli.given |= CLI_F_ALL_NS;
			break;
		case 'o':
			if (out_parse_format(optarg, &cli.output) < 0)
				return main_usage_error(NULL,
							"unable to match a printer suitable for "
							"the output format \"%s\": json or yaml",
							optarg);
			cli.given |= CLI_F_OUTPUT;
			break;
		case OPT_POD:
			cli.pod = optarg;
			cli.given |= CLI_F_POD;
			break;
		case 'c':
			cli.container = optarg;
			cli.given |= CLI_F_CONTAINER;
			break;
		case OPT_USER:
			cli.user = optarg;
			cli.given |= CLI_F_USER;
			break;
		case OPT_SINCE:
			if (timefmt_duration(optarg, &secs) < 0 || secs <= 0)
				return main_usage_error(NULL,
							"--since takes a duration such as 2h, "
							"30m, 1h30m or 90s, not \"%s\"",
							optarg);
			cli.since = time(NULL) - (time_t)secs;
			cli.given |= CLI_F_SINCE;
			break;
		case 'f':
			cli.follow = true;
			cli.given |= CLI_F_FOLLOW;
			break;
		case 'h': help = true; break;
		case OPT_VERSION:
			printf("kubectl-shellaudit %s\n", SHELLAUDIT_VERSION);
			return CLI_OK;
		case ':':
			return main_usage_error(NULL, "flag needs an argument: %s",
						argv[optind - 1]);
		default: return main_usage_error(NULL, "unknown flag: %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		name = argv[optind++];
	if (name && !strcmp(name, "help")) {
		fputs(help_text(optind < argc ? argv[optind] : NULL), stdout);
		return CLI_OK;
	}
	for (i = 0; name && i < sizeof(main_commands) / sizeof(main_commands[0]); i++)
		if (!strcmp(name, main_commands[i].name))
			cmd = &main_commands[i];
	if (help) {
		fputs(help_text(cmd ? cmd->name : NULL), stdout);
		return CLI_OK;
	}
	if (!name) {
		fputs(help_text(NULL), stderr);
		return CLI_ERROR;
	}
	if (!cmd)
		return main_usage_error(NULL, "unknown command \"%s\"", name);
	for (b = 0; b < (int)(sizeof(main_flag_names) / sizeof(main_flag_names[0])); b++)
		if ((cli.given & (1u << b)) && !(cmd->flags & (1u << b)))
			return main_usage_error(cmd->name, "%s does not apply here",
						main_flag_names[b]);
	cli.args = argv + optind;
	cli.nargs = argc - optind;
	if (cli.nargs < cmd->min_args || cli.nargs > cmd->max_args)
		return main_usage_error(cmd->name,
					cmd->max_args ? "%s takes exactly one argument" :
							"%s takes no argument",
					cmd->name);
	if (cli.all_ns && cli.ns)
		return main_usage_error(cmd->name, "%s", "-n and -A exclude each other");
	cli.color = isatty(STDOUT_FILENO) && !(no_color && *no_color) &&
		    !(getenv("TERM") && !strcmp(getenv("TERM"), "dumb"));
	return cmd->run(&cli);
}
