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
//
// Client attacks (--fault flood-client, large-requests, status-spam; see
// attacks.go) are extra clients in this process that send only what the
// protocol allows, much of it or large: the report's throughput and latency
// are then the legitimate clients' alone, shown next to a fault-free run of
// the same configuration that Run makes first (Report.Baseline), with what
// the attack itself did (Report.Attacks). StartAttack runs the same attacks
// for tests (cmd/bulwark TestAttacks).
package bench
