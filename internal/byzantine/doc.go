// Package byzantine is Bulwark's one fault vocabulary, shared by the driver
// (`bulwark replica --fault`), the benchmark harness (which runs replicas
// with those faults) and the simulator's adversaries: the names of the ways
// a replica can be faulty (Kind) and, for each, how it rewrites what the
// replica sends (Decorator).
//
// A faulty replica runs the honest core and the Decorator rewrites its
// messages at the send boundary. It holds only the replica's own key, so it
// can lie, equivocate, stay silent or sign garbage, but never forge another
// replica's or a client's signature. Tests, demos and benchmarks thereby
// misbehave exactly as the simulator does; each caller keeps only its own
// clock (a real timer or virtual time) for the messages it must delay.
package byzantine
