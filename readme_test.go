package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goRunCommand finds the commands a README tells a learner to type: a line of
// a code block that starts with "go run ." (after an optional "$ " prompt),
// or an inline `go run . ...` in prose. What follows, up to a comment or the
// closing backtick, are the arguments.
var goRunCommand = regexp.MustCompile("(?m)(?:^\\$? ?|`)go run \\.([^`#\\n]*)")

// TestREADMECommandsParse runs every command the READMEs show with -h added:
// the flag parser reads every flag before it, so a command whose subcommand,
// pattern or flag does not exist (renamed, removed, misspelt) fails here
// instead of in front of a learner.
func TestREADMECommandsParse(t *testing.T) {
	files, err := filepath.Glob("patterns/*/README.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{"README.md"}, files...)
	seen := 0
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goRunCommand.FindAllStringSubmatch(string(text), -1) {
			args := strings.Fields(m[1])
			seen++
			t.Run(file+": go run . "+strings.Join(args, " "), func(t *testing.T) {
				argv := append(append([]string{"commlab"}, args...), "-h")
				// main exits 0 on flag.ErrHelp: the flags before -h were fine.
				err := run(context.Background(), argv, func(string) string { return "" }, io.Discard, io.Discard)
				if err != nil && !errors.Is(err, flag.ErrHelp) {
					t.Errorf("%v", err)
				}
			})
		}
	}
	if seen < 20 {
		t.Errorf("found %d commands in the READMEs, want the 20 and more they show: is the pattern still right?", seen)
	}
}
