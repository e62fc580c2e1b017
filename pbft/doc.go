// Package pbft is Bulwark's protocol core: a pure, deterministic PBFT replica
// (Castro & Liskov, TOCS 2002, the variant with signatures).
//
// A Replica owns no goroutines, reads no clock, touches no disk or socket and
// draws no randomness. It is stepped by messages (Step) and clock ticks (Tick)
// and hands back what must happen next as a Ready. The driver that owns a
// replica follows this contract, in this order, for every Ready:
//
//  1. Persist: write Ready.Persist durably (synced) before anything else. These
//     are the messages that bind the replica: a pre-prepare it accepted or
//     issued, its own prepares and commits. After a crash it must never send a
//     message that contradicts one it sent before.
//  2. Send: deliver Ready.Messages. Loss is tolerated (the Status exchange
//     retransmits), so sends may be best-effort.
//  3. Record: Ready.Executed lists the batches the replica applied to its
//     service during the step, in sequence order; the replies to their clients
//     are already among Ready.Messages.
//
// Every protocol rule lives in a file named after it: request.go (client
// requests and the reply cache), propose.go (batching at the primary),
// agreement.go (pre-prepare, prepare, commit), execute.go, checkpoint.go and
// status.go (retransmission over lossy links).
package pbft
