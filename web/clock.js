// The browser's clock and the server's can disagree by milliseconds or more,
// and latency is "receive time - t_us" with t_us from the server's clock. So we
// measure the offset, NTP style: ask for the server's time, and assume it was
// read halfway through the round trip. The error is at most half the round
// trip, so the sample with the shortest round trip is the one we keep.

// localUs is the browser's time in µs, finer than Date.now() where the browser
// allows it.
export function localUs() {
  return (performance.timeOrigin + performance.now()) * 1000;
}

export const clock = {
  offsetUs: 0, // server time - browser time
  rttUs: NaN, // round trip of the sample the offset came from: its error bound is half of it
  // nowUs is the current time on the server's clock, in µs.
  nowUs() { return localUs() + this.offsetUs; },
  // sample offers one measurement: the server said serverUs between sentUs and
  // receivedUs (browser time). It is kept only if its round trip is shorter
  // than the best so far, so the offset only ever gets more precise.
  sample(sentUs, receivedUs, serverUs) {
    const rtt = receivedUs - sentUs;
    if (typeof serverUs !== 'number' || !(rtt >= 0) || rtt >= this.rttUs) return;
    this.offsetUs = serverUs - (sentUs + receivedUs) / 2;
    this.rttUs = rtt;
  },
};

// The page's own tasks (a few hundred ticks a second) can delay the moment our
// code sees a response by milliseconds. The browser's Resource Timing records
// when the request left and when the answer began to arrive, free of that
// delay; its buffer is emptied after each read so it never fills up.
performance.setResourceTimingBufferSize(1000);

// fetchStats GETs /api/stats, offers its time_us to the clock as a sample, and
// returns the response and its decoded body. The dashboard asks once a
// second, so the offset keeps getting better while the page runs.
export async function fetchStats() {
  let sent = localUs();
  const resp = await fetch('api/stats', { cache: 'no-store' });
  let received = localUs();
  const body = await resp.json();
  const timing = performance.getEntriesByName(resp.url, 'resource').at(-1);
  performance.clearResourceTimings();
  if (timing !== undefined && timing.requestStart > 0 && timing.responseStart >= timing.requestStart) {
    sent = (performance.timeOrigin + timing.requestStart) * 1000;
    received = (performance.timeOrigin + timing.responseStart) * 1000;
  }
  clock.sample(sent, received, body.time_us);
  return { resp, body };
}

// syncClock takes a few samples before the clients start. The first request
// also opens the connection, which is why it is rarely the best.
export async function syncClock(samples = 6) {
  for (let i = 0; i < samples; i++) await fetchStats();
  return clock;
}
