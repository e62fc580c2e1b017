// Package bench is the benchmark harness behind `bulwark bench`. It drives a
// cluster (or, for a baseline, the service alone) with closed-loop clients
// for a warm-up and then a measured phase, and measures what a user of the
// cluster sees: successful operations per second, and the latency of each
// operation from the client sending it to the client accepting f+1 matching
// replies, as percentiles from an HDR histogram and second by second. Around
// that it measures what the throughput costs (CPU seconds, bytes allocated
// and ed25519 signatures and verifications per operation, with this
// machine's price of each) and, when a fault is injected on a schedule, how
// the cluster came through it: how long until an operation committed in a
// new view and until throughput was back at 80% of its level before the
// fault. Operations count by the time they complete, so a stall shows as
// seconds without completions rather than being smeared over the run. The
// cluster-independent parts, fault schedules, recording, the report and its
// plots, are pure and tested with synthetic times.
package bench
