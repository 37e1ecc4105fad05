/* SPDX-License-Identifier: Apache-2.0 */
/* The manual-page style --help texts of kubectl-shellaudit. */
#ifndef SHELLAUDIT_PLUGIN_HELP_H
#define SHELLAUDIT_PLUGIN_HELP_H

/* The text for a subcommand, or the whole plugin's for NULL or an unknown one. */
const char *help_text(const char *command);

#endif
