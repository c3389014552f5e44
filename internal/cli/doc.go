// Package cli is the command framework of udpkit's multi-command tools
// (udpcli): a table of commands with subcommands, one dispatcher that
// parses each one's flags and runs it, "help" and --help texts, the usage
// and exit errors a command returns, and the exit statuses they map to.
//
// A command is its flags and a function: Setup registers the flags on the
// flag set the dispatcher made for it and returns the function that runs
// with the positional arguments. The function returns nil (status 0), an
// error from Usagef (status 2, with a hint to run --help), Failed (status
// 1: the network did not answer as asked), an *ExitError with any status,
// or any other error (status 2, printed under the command's name).
//
// Completion scripts and man pages (internal/completion, internal/manpage)
// are made from the same table, so that none can drift from what the tool
// accepts.
package cli
