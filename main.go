// Command commlab is a lab for backend communication patterns: one live
// stock-ticker feed delivered side by side over short polling, long polling,
// server-sent events and WebSockets, relayed through NATS.
//
//	go run .              # the lab and its dashboard on http://127.0.0.1:8080
//	go run . demo sse     # one pattern with a terminal client
//	go run . help         # every command and flag
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// main owns the signals and the exit code; run owns everything else, so tests
	// can call run with their own context, arguments and output.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return // -h: the usage is printed, and that is not a failure
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "commlab: %v\n", err)
		os.Exit(1)
	}
}

// run dispatches the command line: no command (or "serve") runs the lab,
// "demo" runs one pattern with a terminal client, "help" explains them.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		args = []string{"commlab"}
	}
	cmd, rest := "serve", args[1:]
	if len(rest) > 0 && rest[0] != "" && rest[0][0] != '-' {
		cmd, rest = rest[0], rest[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, rest, getenv, stdout, stderr)
	case "demo":
		return demo(ctx, rest, getenv, stdout, stderr)
	case "worker":
		return worker(ctx, rest, getenv, stdout, stderr)
	case "bench":
		return benchCommand(ctx, rest, stdout, stderr)
	case "help":
		return help(rest, getenv, stdout)
	default:
		return fmt.Errorf("unknown command %q (try: commlab help)", cmd)
	}
}

const usage = `commlab: backend communication patterns, side by side.

Usage:
  commlab [serve] [flags]        run the lab: feed, embedded NATS, every pattern, dashboard
  commlab demo <pattern> [flags] run the lab plus a terminal client of one pattern
                                 (pattern: poll, longpoll, sse, ws, pubsub, queue)
  commlab worker [flags]         one queue worker as its own process, on a running lab's NATS
  commlab bench [flags]          measure the patterns side by side under load; one table (or --json)
  commlab help [command]         this help, or a command's flags

With go: go run . [command] [flags]. Run "commlab help serve", "commlab help demo",
"commlab help worker" or "commlab help bench" for the flags.
`

func help(args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return nil
	}
	switch args[0] {
	case "serve":
		fs, _ := labFlags("serve", getenv, defaultAddr, defaultNATSListen)
		fs.SetOutput(stdout)
		fs.Usage()
	case "demo":
		fs, _, _ := demoFlags()
		fs.SetOutput(stdout)
		fs.Usage()
	case "worker":
		fs, _ := workerFlags(getenv)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
	case "bench":
		fs, _ := benchFlags()
		fs.SetOutput(stdout)
		fs.Usage()
	default:
		return fmt.Errorf("help: unknown command %q", args[0])
	}
	return nil
}
