package pbft

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// snapshot is this replica's state at one of its checkpoints.
type snapshot struct {
	service    []byte
	replyCache []*wire.ReplyCacheEntry
}

// transfer is a stable checkpoint above this replica's execution, proven by
// cert, to fetch if the replica stays stuck below it, and the chunks of it
// received so far from the peer being asked.
type transfer struct {
	seq uint64
	// peers are the replicas that can serve it: the certificate's signers,
	// or those whose Status reported a stable checkpoint at least this high.
	peers    []uint32
	attempts int
	asked    uint64 // tick of the last FetchState
	retries  int    // of the current chunk from the current peer
	peer     uint32
	// The chunks received from peer, for its state at from (>= seq).
	from   uint64
	chunks [][]byte
	total  uint32
	digest crypto.Digest
	got    []*wire.Checkpoint // the certificate peer sent with chunk 0
}

// keepSnapshot records the state at checkpoint seq, so this replica can serve
// it to peers that fall behind once seq becomes stable.
func (r *Replica) keepSnapshot(seq uint64) {
	svc, err := r.svc.Snapshot()
	if err != nil {
		return // a service that cannot snapshot cannot serve state transfers
	}
	r.snapshots[seq] = snapshot{service: svc, replyCache: r.replyCache()}
}

// learnCertificate looks among checkpoints from distinct replicas for the
// highest sequence number 2f+1 of them agree on, above what this replica has
// executed, and remembers it as a state transfer target.
func (r *Replica) learnCertificate(cps []*wire.Checkpoint) {
	for _, cp := range cps {
		if cp == nil || cp.GetSequence() <= max(r.lastExec, r.transfer.seq) {
			continue
		}
		var cert []*wire.Checkpoint
		for _, other := range cps {
			if other != nil && other.GetSequence() == cp.GetSequence() &&
				string(other.GetStateDigest()) == string(cp.GetStateDigest()) {
				cert = append(cert, other)
			}
		}
		if len(cert) >= r.q.stable() {
			peers := make([]uint32, 0, len(cert))
			for _, c := range cert {
				if c.GetReplica() != r.cfg.ID {
					peers = append(peers, c.GetReplica())
				}
			}
			r.retarget(cp.GetSequence(), peers)
		}
	}
}

// learnFromStatus makes a transfer target of the highest stable checkpoint
// that f+1 peers report above this replica's execution: one of them is
// correct, so it exists, and the certificate that comes with its state proves
// it. This is how a replica whose own checkpoint messages were lost in a
// crash finds the state its peers already discarded the log for.
func (r *Replica) learnFromStatus() {
	if r.transfer.seq > r.lastExec {
		return
	}
	stables := make([]uint64, 0, r.q.n)
	for id, p := range r.peers {
		if uint32(id) != r.cfg.ID && p.seen && p.stable > r.lastExec {
			stables = append(stables, p.stable)
		}
	}
	if len(stables) < r.q.f+1 {
		return
	}
	slices.Sort(stables)
	seq := stables[len(stables)-(r.q.f+1)]
	var peers []uint32
	for id, p := range r.peers {
		if uint32(id) != r.cfg.ID && p.seen && p.stable >= seq {
			peers = append(peers, uint32(id))
		}
	}
	r.retarget(seq, peers)
}

// retarget raises the transfer's target without dropping a download in
// progress: peers' stable checkpoints may advance faster than a large state
// downloads, and restarting each time would never finish. Once the download
// is installed, a further transfer covers what remains.
func (r *Replica) retarget(seq uint64, peers []uint32) {
	if len(r.transfer.chunks) == 0 {
		r.transfer = transfer{seq: seq, peers: peers}
		return
	}
	r.transfer.seq, r.transfer.peers = seq, peers
}

// maybeFetchState starts fetching the target checkpoint when execution made
// no progress for two Status periods, and moves on to the next signer when
// the peer being asked stops answering. A faulty signer that stays silent,
// stops halfway or serves a bad snapshot only delays the transfer.
func (r *Replica) maybeFetchState() {
	r.learnFromStatus()
	t := &r.transfer
	wait := 2 * r.cfg.StatusTicks
	if t.seq <= r.lastExec || r.ticks-r.progressTick < wait || (t.attempts > 0 && r.ticks-t.asked < wait) {
		return
	}
	// A lost request or chunk is asked for again from the same peer; only a
	// peer that stays silent is given up on.
	if t.attempts > 0 && t.retries < maxChunkRetries {
		t.retries++
		r.askChunk(uint32(len(t.chunks)))
		return
	}
	r.askNextPeer()
}

// maxChunkRetries is how often one chunk is asked for again before the
// transfer moves on to the next signer.
const maxChunkRetries = 3

func (r *Replica) askNextPeer() {
	t := &r.transfer
	t.peer = t.peers[t.attempts%len(t.peers)]
	t.attempts++
	t.chunks, t.total, t.got, t.from, t.retries = nil, 0, nil, 0, 0
	r.askChunk(0)
}

func (r *Replica) askChunk(chunk uint32) {
	r.transfer.asked = r.ticks
	// For the first chunk any certified state above what this replica
	// executed helps, even one below the target: a peer may not yet hold the
	// target as stable. Later chunks name the state being downloaded.
	seq := r.lastExec + 1
	if chunk > 0 {
		seq = r.transfer.from
	}
	r.send(int(r.transfer.peer), &wire.Message{Content: &wire.Message_FetchState{
		FetchState: &wire.FetchState{Sequence: seq, Replica: r.cfg.ID, Chunk: chunk},
	}})
}

// onFetchState serves one chunk of this replica's stable checkpoint when it
// is at least as recent as the one asked for.
func (r *Replica) onFetchState(from From, fs *wire.FetchState) error {
	if err := r.checkSender(from, fs.GetReplica()); err != nil {
		return err
	}
	if r.low == 0 || r.low < fs.GetSequence() {
		return r.drop(ErrOutsideWindow, "state at %d asked for, stable checkpoint is %d", fs.GetSequence(), r.low)
	}
	seq := r.low
	if fs.GetChunk() > 0 {
		seq = fs.GetSequence() // a download in progress: the state it started on, if still kept
	}
	blob, err := r.stateBlob(seq)
	if err != nil {
		return r.drop(ErrOutsideWindow, "cannot serve the state at %d: %v", seq, err)
	}
	size := r.cfg.StateChunkSize
	chunks := uint32((len(blob) + size - 1) / size)
	if fs.GetChunk() >= chunks {
		return r.drop(ErrMalformed, "chunk %d of %d asked for", fs.GetChunk(), chunks)
	}
	lo := int(fs.GetChunk()) * size
	sc := &wire.StateChunk{
		Sequence: seq, Chunk: fs.GetChunk(), Chunks: chunks,
		Data: blob[lo:min(lo+size, len(blob))], Replica: r.cfg.ID,
	}
	if fs.GetChunk() == 0 {
		sc.Certificate = r.stableCert
	}
	r.send(int(fs.GetReplica()), &wire.Message{Content: &wire.Message_StateChunk{StateChunk: sc}})
	return nil
}

// stateBlob encodes the state at checkpoint seq, caching the last one.
func (r *Replica) stateBlob(seq uint64) ([]byte, error) {
	if r.blob.seq == seq && r.blob.data != nil {
		return r.blob.data, nil
	}
	snap, ok := r.snapshots[seq]
	if !ok {
		return nil, fmt.Errorf("no snapshot at %d", seq)
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(&wire.StateBlob{
		ServiceSnapshot: snap.service, ReplyCache: snap.replyCache,
	})
	if err != nil {
		return nil, err
	}
	r.blob.seq, r.blob.data = seq, data
	return data, nil
}

// onStateChunk collects the chunks of a state transfer in order from the peer
// asked, bounded by MaxStateSize, and installs the state once complete.
func (r *Replica) onStateChunk(from From, sc *wire.StateChunk) error {
	if err := r.checkSender(from, sc.GetReplica()); err != nil {
		return err
	}
	t := &r.transfer
	if t.seq <= r.lastExec || sc.GetReplica() != t.peer || sc.GetChunk() != uint32(len(t.chunks)) {
		r.stats.Duplicates++
		return nil
	}
	if sc.GetChunk() == 0 {
		if sc.GetSequence() <= r.lastExec {
			return r.drop(ErrOutsideWindow, "state at %d, executed %d", sc.GetSequence(), r.lastExec)
		}
		d, err := r.checkCertificate(sc.GetSequence(), sc.GetCertificate())
		if err != nil {
			return err
		}
		if sc.GetChunks() == 0 || uint64(sc.GetChunks())*uint64(r.cfg.StateChunkSize) > uint64(r.cfg.MaxStateSize)+uint64(r.cfg.StateChunkSize) {
			r.askNextPeer()
			return r.drop(ErrMalformed, "state of %d chunks exceeds the limit of %d bytes", sc.GetChunks(), r.cfg.MaxStateSize)
		}
		t.from, t.total, t.digest, t.got = sc.GetSequence(), sc.GetChunks(), d, sc.GetCertificate()
	}
	if sc.GetSequence() != t.from || sc.GetChunks() != t.total || len(sc.GetData()) > r.cfg.StateChunkSize {
		r.askNextPeer()
		return r.drop(ErrMalformed, "chunk %d does not fit the state being transferred", sc.GetChunk())
	}
	t.chunks = append(t.chunks, sc.GetData())
	t.retries = 0
	if uint32(len(t.chunks)) < t.total {
		r.askChunk(uint32(len(t.chunks)))
		return nil
	}
	var blob []byte
	for _, c := range t.chunks {
		blob = append(blob, c...)
	}
	var sb wire.StateBlob
	if err := proto.Unmarshal(blob, &sb); err != nil {
		r.askNextPeer()
		return r.drop(ErrMalformed, "state from replica %d: %v", t.peer, err)
	}
	ss := &wire.StateSnapshot{Sequence: t.from, ServiceSnapshot: sb.GetServiceSnapshot(),
		ReplyCache: sb.GetReplyCache(), Certificate: t.got, Replica: t.peer}
	if err := r.installVerified(ss, t.digest); err != nil {
		r.askNextPeer()
		return err
	}
	return nil
}

// installVerified installs a snapshot whose restored state has the
// certified digest d. A bad or truncated snapshot is dropped and the state
// left as it was.
func (r *Replica) installVerified(ss *wire.StateSnapshot, d crypto.Digest) error {
	if ss.GetSequence() <= r.lastExec {
		// Execution overtook the download: installing it would roll the
		// replica back below what it executed and replied to.
		r.transfer = transfer{}
		r.stats.Duplicates++
		return nil
	}
	cache, err := r.checkReplyCache(ss.GetReplyCache())
	if err != nil {
		return err
	}
	backup, err := r.svc.Snapshot()
	if err != nil {
		return r.drop(ErrMalformed, "cannot back up the service before restoring: %v", err)
	}
	if err := r.svc.Restore(ss.GetServiceSnapshot()); err != nil {
		return r.drop(ErrDigestMismatch, "service snapshot at %d: %v", ss.GetSequence(), err)
	}
	got := crypto.Hash(crypto.NewTranscript(tagState, r.cfg.ClusterID).
		Digest(r.svc.Digest()).Digest(replyCacheDigest(r.cfg.ClusterID, ss.GetReplyCache())).Sum())
	if got != d {
		if err := r.svc.Restore(backup); err != nil {
			return r.drop(ErrDigestMismatch, "snapshot at %d from replica %d, and the service cannot restore its own state: %v",
				ss.GetSequence(), ss.GetReplica(), err)
		}
		return r.drop(ErrDigestMismatch, "snapshot at %d from replica %d", ss.GetSequence(), ss.GetReplica())
	}
	r.installState(ss, cache)
	r.ready.Restored = ss
	r.stats.StateTransfers++
	return nil
}

// checkCertificate checks 2f+1 valid checkpoints from distinct replicas for
// seq with one state digest, and returns that digest.
func (r *Replica) checkCertificate(seq uint64, cert []*wire.Checkpoint) (crypto.Digest, error) {
	var d crypto.Digest
	if len(cert) < r.q.stable() && !(bug(BugCheckpointCertShort) && len(cert) > r.q.f) || len(cert) > r.q.n {
		return d, r.drop(ErrMalformed, "certificate of %d checkpoints", len(cert))
	}
	seen := make([]bool, r.q.n)
	for i, cp := range cert {
		cd, err := digestOf(cp.GetStateDigest())
		if err != nil {
			r.stats.Dropped[ErrMalformed.Error()]++
			return d, err
		}
		if i == 0 {
			d = cd
		}
		id := cp.GetReplica()
		switch {
		case cp.GetSequence() != seq || cd != d:
			return d, r.drop(ErrMalformed, "certificate mixes sequence numbers or digests")
		case int(id) >= r.q.n || seen[id]:
			return d, r.drop(ErrMalformed, "certificate names replica %d twice or unknown", id)
		}
		seen[id] = true
		if err := r.verifyReplica(id, checkpointTranscript(r.cfg.ClusterID, cp, cd), cp.GetSignature()); err != nil {
			return d, err
		}
	}
	return d, nil
}

// checkReplyCache validates snapshot reply cache entries: canonical order,
// well-formed keys and sessions.
func (r *Replica) checkReplyCache(entries []*wire.ReplyCacheEntry) (map[sessionKey]*clientState, error) {
	cache := make(map[sessionKey]*clientState, len(entries))
	var prev sessionKey
	for i, e := range entries {
		k := sessionKey{client: string(e.GetClientKey()), session: e.GetSession()}
		switch {
		case len(e.GetClientKey()) != crypto.PublicKeySize || e.GetSession() >= r.cfg.MaxSessions || e.GetTimestamp() == 0:
			return nil, r.drop(ErrMalformed, "reply cache entry %d", i)
		case i > 0 && (k.client < prev.client || k.client == prev.client && k.session <= prev.session):
			return nil, r.drop(ErrMalformed, "reply cache entry %d out of order", i)
		}
		prev = k
		cache[k] = &clientState{lastTS: e.GetTimestamp(), lastResult: e.GetResult()}
	}
	return cache, nil
}

// installState makes a verified snapshot this replica's state: it becomes
// the stable checkpoint, and the log below it is discarded.
func (r *Replica) installState(ss *wire.StateSnapshot, cache map[sessionKey]*clientState) {
	for k, cs := range r.clients {
		// Requests still outstanding above the snapshot stay held.
		if cs.pending != nil {
			nc := cache[k]
			if nc == nil {
				nc = &clientState{}
				cache[k] = nc
			}
			if cs.pending.GetTimestamp() > nc.lastTS {
				nc.pending, nc.pendingDigest, nc.authentic, nc.verified = cs.pending, cs.pendingDigest, cs.authentic, cs.verified
			}
		}
	}
	seq := ss.GetSequence()
	r.clients = cache
	r.lastExec = seq
	r.progressTick = r.ticks
	r.nextSeq = max(r.nextSeq, seq)
	r.snapshots[seq] = snapshot{service: ss.GetServiceSnapshot(), replyCache: ss.GetReplyCache()}
	own := &wire.Checkpoint{Sequence: seq, StateDigest: ss.GetCertificate()[0].GetStateDigest(), Replica: r.cfg.ID}
	_ = SignCheckpoint(r.cfg.Signer, r.cfg.ClusterID, own)
	r.ownCheckpoint[seq] = own
	switch {
	case seq > r.low:
		r.prevLow, r.low, r.stableCert = r.low, seq, ss.GetCertificate()
		r.announceStable()
		r.collectGarbage()
	case seq == r.low && !bug(BugAdoptedLowNotPersisted):
		// The low watermark was already here (adopted from a NEW-VIEW before
		// the state arrived): the state must be made durable all the same.
		r.announceStable()
		r.collectGarbage()
	}
	r.transfer = transfer{}
	r.executeCommitted()
	r.maybePropose()
}
