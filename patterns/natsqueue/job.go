package natsqueue

import (
	"time"

	"commlab/shared"
)

// DefaultWorkTime is how long the job of one tick takes unless told otherwise.
const DefaultWorkTime = 20 * time.Millisecond

// candle is one symbol's running summary: open, high, low, close and an
// exponential moving average of the price, over the ticks one worker has seen.
//
// A queue hands each worker only a share of the ticks, so a worker's candle
// summarises a sample of its symbol, not all of it. State that must see every
// tick of a symbol needs all of them routed to one place (a subject per symbol,
// or a stream consumer filtered on it), not a queue.
type candle struct {
	open, high, low, close, ema float64
	count                       int
	epoch                       string // the feed run the seqs belong to
	lastSeq                     uint64
}

// emaWeight is the weight of the newest price in the moving average.
const emaWeight = 0.2

// job is a worker's per-symbol state and the work of updating it.
type job struct {
	workTime time.Duration
	candles  map[string]*candle
}

func newJob(workTime time.Duration) *job {
	return &job{workTime: workTime, candles: make(map[string]*candle)}
}

// run does the work for t, published by the feed run epoch: it takes
// workTime, standing in for real processing, then updates the candle. It
// returns false without touching any state when quit closes first: a killed
// worker abandons the tick it was working on.
func (j *job) run(t shared.Tick, epoch string, quit <-chan struct{}) bool {
	if j.workTime > 0 {
		timer := time.NewTimer(j.workTime)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-quit:
			return false
		}
	} else {
		select {
		case <-quit:
			return false
		default:
		}
	}
	j.update(t, epoch)
	return true
}

// update applies t to its symbol's candle. It is idempotent: a tick whose seq
// is not newer than the last one applied is a duplicate, or arrived late
// because redelivery broke the order, and changes nothing. An at-least-once
// queue needs handlers like that. Seqs only compare within one run of the
// feed: a tick of another epoch (a restarted feed) starts the candle afresh.
func (j *job) update(t shared.Tick, epoch string) {
	c := j.candles[t.Symbol]
	if c == nil || c.epoch != epoch {
		j.candles[t.Symbol] = &candle{open: t.Price, high: t.Price, low: t.Price, close: t.Price, ema: t.Price, count: 1, epoch: epoch, lastSeq: t.Seq}
		return
	}
	if t.Seq <= c.lastSeq {
		return
	}
	c.high = max(c.high, t.Price)
	c.low = min(c.low, t.Price)
	c.close = t.Price
	c.ema += emaWeight * (t.Price - c.ema)
	c.count++
	c.lastSeq = t.Seq
}
