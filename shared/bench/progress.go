package bench

import (
	"fmt"
	"io"
)

// progress tells the user, on stderr, what runs and how far it is. On a
// terminal one line is rewritten in place; otherwise each phase gets a line of
// its own and the updates within a phase are left out.
type progress struct {
	w    io.Writer
	live bool
}

// phase starts a new step: "[2/6] sse: warming up 1s".
func (p *progress) phase(format string, args ...any) {
	if p.w == nil {
		return
	}
	if p.live {
		fmt.Fprintf(p.w, "\r\033[K"+format, args...)
		return
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// update shows how far the step is: only on a terminal.
func (p *progress) update(format string, args ...any) {
	if p.w != nil && p.live {
		fmt.Fprintf(p.w, "\r\033[K"+format, args...)
	}
}

// done clears the live line.
func (p *progress) done() {
	if p.w != nil && p.live {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
