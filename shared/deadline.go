package shared

import "time"

// WriteDeadline keeps a write deadline on a connection without setting one
// for every write. Setting a deadline updates a runtime timer, and a stream
// that writes a tick every few milliseconds would do that hundreds of times
// a second per client for a bound that only matters when a client stops
// reading. Arm moves the deadline only once a tenth of Timeout has run down,
// so every write still gets at least nine tenths of Timeout to complete.
//
// A WriteDeadline belongs to one connection. Calls to Arm must not overlap
// (the connections here arm under a lock), and it assumes that nothing else
// moves the deadline, except to end the connection for good.
type WriteDeadline struct {
	Timeout time.Duration // above zero: with 0 every write would fail at once
	at      time.Time     // the deadline in force; zero: none set by Arm yet
}

// Deadliner is a connection whose write deadline can be set: a net.Conn, or
// an *http.ResponseController.
type Deadliner interface {
	SetWriteDeadline(time.Time) error
}

// Arm makes sure the next write on c has at least nine tenths of Timeout.
func (d *WriteDeadline) Arm(c Deadliner) error {
	now := time.Now()
	if d.at.Sub(now) >= d.Timeout-d.Timeout/10 {
		return nil
	}
	if err := c.SetWriteDeadline(now.Add(d.Timeout)); err != nil {
		return err
	}
	d.at = now.Add(d.Timeout)
	return nil
}
