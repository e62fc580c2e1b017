package pbft

import "github.com/bulwark-bft/bulwark/statemachine"

// executeCommitted executes committed batches strictly in sequence order: a
// batch runs only once every lower sequence number has run.
func (r *Replica) executeCommitted() {
	for {
		s := r.slots[r.lastExec+1]
		if s == nil || !s.committed || s.needBatch {
			return
		}
		r.execute(r.lastExec+1, s)
	}
}

// execute applies one committed batch. A request whose timestamp is not above
// its session's last executed one is skipped, so no operation runs twice even
// when a faulty primary orders it again.
func (r *Replica) execute(seq uint64, s *slot) {
	reqs := s.prePrepare.GetRequests()
	ex := Executed{
		Sequence: seq, View: r.view, PrePrepare: s.prePrepare, Requests: reqs,
		Skipped: make([]bool, len(reqs)), Results: make([][]byte, len(reqs)),
	}
	ops := make([]statemachine.Op, 0, len(reqs))
	run := make([]int, 0, len(reqs))
	for i, req := range reqs {
		k := keyOf(req)
		if r.inflight != nil {
			r.executedAtPrimary(req, seq)
		}
		if cs := r.clients[k]; r.belowFloor(k, cs, req.GetTimestamp()) && !bug(BugExecuteWithoutTimestampCheck) {
			ex.Skipped[i] = true // its session was evicted: it may be a replay
			if cs != nil && cs.pending != nil && cs.pending.GetTimestamp() <= r.floorOf(k.client) && !bug(BugHeldBelowFloorKept) {
				r.clearPending(k, cs) // it never executes here: it holds no share
				delete(r.clients, k)  // nor a session: it never executed
			}
			continue
		}
		cs := r.clientState(k)
		if req.GetTimestamp() <= cs.lastTS && !bug(BugExecuteWithoutTimestampCheck) {
			ex.Skipped[i] = true
			continue
		}
		cs.lastTS, cs.lastSeq = req.GetTimestamp(), seq // a later copy in this batch is skipped
		ops = append(ops, statemachine.Op{Client: req.GetClientKey(), Session: req.GetSession(), Data: req.GetOperation()})
		run = append(run, i)
	}
	results := r.svc.Apply(seq, ops)
	for j, i := range run {
		var res []byte
		if j < len(results) {
			res = results[j]
		}
		ex.Results[i] = res
		k := keyOf(reqs[i])
		cs := r.clients[k]
		if cs.lastTS == reqs[i].GetTimestamp() {
			cs.lastResult, cs.lastView = res, r.view
			if cs.pending != nil && cs.pending.GetTimestamp() <= cs.lastTS {
				r.clearPending(k, cs)
			}
		}
		r.replyExecuted(k, reqs[i].GetTimestamp(), res)
	}
	r.lastExec = seq
	r.progressTick = r.ticks
	r.failedViews = 0
	if r.timer.running && r.active {
		r.restartTimer() // progress: the requests still waiting get a fresh T
	}
	r.withdrawSuspicion()
	r.stats.ExecutedBatches++
	r.stats.ExecutedRequests += uint64(len(run))
	r.ready.Executed = append(r.ready.Executed, ex)
	// The requests are durable (the pre-prepare's record, or the committed
	// batch's) and no longer needed here: peers that lack them fetch them
	// from the store. Memory holds only batches awaiting execution.
	s.prePrepare = header(s.prePrepare)
	if seq%r.cfg.CheckpointInterval == 0 {
		r.takeCheckpoint(seq)
	}
	r.maybePropose()
}

func (r *Replica) clientState(k sessionKey) *clientState {
	cs := r.clients[k]
	if cs == nil {
		cs = &clientState{}
		r.clients[k] = cs
	}
	return cs
}
