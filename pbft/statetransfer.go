package pbft

import (
	"slices"

	"github.com/bulwark-bft/bulwark/crypto"
	"github.com/bulwark-bft/bulwark/pbft/wire"
)

// snapshot is this replica's state at one of its checkpoints: the state
// blob, its hash tree (which proves each chunk served) and its digest.
type snapshot struct {
	blob   []byte
	tree   *stateTree
	digest crypto.Digest
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
	// The chunks received from peer, for its state at from (>= seq), each
	// checked against root, which the certified digest commits to.
	from   uint64
	chunks [][]byte
	total  uint32
	size   int
	root   crypto.Digest
	digest crypto.Digest
	got    []*wire.Checkpoint // the certificate peer sent with chunk 0
}

// keepSnapshot records the state at checkpoint seq, so this replica can
// serve it to peers that fall behind once seq becomes stable.
func (r *Replica) keepSnapshot(seq uint64) (snapshot, bool) {
	blob, err := r.stateBlob()
	if err != nil {
		return snapshot{}, false
	}
	snap := newSnapshot(r.cfg.ClusterID, blob, r.cfg.StateChunkSize)
	r.snapshots[seq] = snap
	return snap, true
}

func newSnapshot(cluster string, blob []byte, chunk int) snapshot {
	t := buildTree(cluster, blob, chunk)
	return snapshot{blob: blob, tree: t, digest: stateDigestOf(cluster, t.root(), len(blob))}
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
// is at least as recent as the one asked for, with the chunk's path in the
// state tree.
func (r *Replica) onFetchState(from From, fs *wire.FetchState) error {
	if err := r.checkSender(from, fs.GetReplica()); err != nil {
		return err
	}
	if r.low == 0 || r.low < fs.GetSequence() {
		return r.drop(ErrOutsideWindow, "state at %d asked for, stable checkpoint is %d", fs.GetSequence(), r.low)
	}
	if !r.peers[fs.GetReplica()].chunks.take(r.ticks, chunkBurst) {
		r.stats.RateLimited++
		return nil
	}
	seq := r.low
	if fs.GetChunk() > 0 {
		seq = fs.GetSequence() // a download in progress: the state it started on, if still kept
	}
	snap, ok := r.snapshots[seq]
	if !ok || snap.tree == nil {
		return r.drop(ErrOutsideWindow, "cannot serve the state at %d: not kept", seq)
	}
	size := r.cfg.StateChunkSize
	chunks := uint32(chunkCount(len(snap.blob), size))
	if fs.GetChunk() >= chunks {
		return r.drop(ErrMalformed, "chunk %d of %d asked for", fs.GetChunk(), chunks)
	}
	lo := int(fs.GetChunk()) * size
	sc := &wire.StateChunk{
		Sequence: seq, Chunk: fs.GetChunk(), Chunks: chunks,
		Data: snap.blob[lo:min(lo+size, len(snap.blob))], Replica: r.cfg.ID, Proof: snap.tree.proof(int(fs.GetChunk())),
	}
	if fs.GetChunk() == 0 {
		root := snap.tree.root()
		sc.Certificate, sc.Root, sc.Size = r.stableCert, root[:], uint64(len(snap.blob))
	}
	r.send(int(fs.GetReplica()), &wire.Message{Content: &wire.Message_StateChunk{StateChunk: sc}})
	return nil
}

// onStateChunk collects the chunks of a state transfer in order from the
// peer asked, checking each against the certified tree root as it arrives (a
// bad chunk moves on to the next peer at once), and installs the state once
// complete.
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
		root, err := digestOf(sc.GetRoot())
		switch {
		case sc.GetSize() > uint64(r.cfg.MaxStateSize):
			r.askNextPeer()
			return r.drop(ErrMalformed, "state of %d bytes exceeds the limit of %d", sc.GetSize(), r.cfg.MaxStateSize)
		case err != nil || stateDigestOf(r.cfg.ClusterID, root, int(sc.GetSize())) != d:
			r.askNextPeer()
			return r.drop(ErrDigestMismatch, "state tree root from replica %d does not give the certified digest", sc.GetReplica())
		case sc.GetChunks() != uint32(chunkCount(int(sc.GetSize()), r.cfg.StateChunkSize)):
			r.askNextPeer()
			return r.drop(ErrMalformed, "state of %d bytes in %d chunks", sc.GetSize(), sc.GetChunks())
		}
		t.from, t.total, t.digest, t.got, t.root, t.size = sc.GetSequence(), sc.GetChunks(), d, sc.GetCertificate(), root, int(sc.GetSize())
	}
	if sc.GetSequence() != t.from || sc.GetChunks() != t.total || len(sc.GetData()) != chunkLen(t.size, r.cfg.StateChunkSize, int(sc.GetChunk())) ||
		!verifyChunk(r.cfg.ClusterID, t.root, int(sc.GetChunk()), int(t.total), sc.GetData(), sc.GetProof()) {
		r.askNextPeer()
		return r.drop(ErrDigestMismatch, "chunk %d from replica %d does not match the certified state", sc.GetChunk(), sc.GetReplica())
	}
	t.chunks = append(t.chunks, sc.GetData())
	t.retries = 0
	if uint32(len(t.chunks)) < t.total {
		r.askChunk(uint32(len(t.chunks)))
		return nil
	}
	blob := make([]byte, 0, t.size)
	for _, c := range t.chunks {
		blob = append(blob, c...)
	}
	if err := r.installVerified(t.from, blob, t.got, t.peer); err != nil {
		r.askNextPeer()
		return err
	}
	return nil
}

// chunkLen is the length chunk i of a blob of size bytes has.
func chunkLen(size, chunk, i int) int {
	return max(0, min(chunk, size-i*chunk))
}

// installVerified installs the state blob at seq (every chunk of which was
// checked against the certified digest). One that does not decode is
// dropped and the state left as it was.
func (r *Replica) installVerified(seq uint64, blob []byte, cert []*wire.Checkpoint, peer uint32) error {
	if seq <= r.lastExec {
		// Execution overtook the download: installing it would roll the
		// replica back below what it executed and replied to.
		r.transfer = transfer{}
		r.stats.Duplicates++
		return nil
	}
	svc, table, err := decodeState(blob, r.cfg.MaxSessions)
	if err != nil {
		return r.drop(ErrMalformed, "state at %d from replica %d: %v", seq, peer, err)
	}
	if err := r.svc.Restore(svc); err != nil {
		return r.drop(ErrDigestMismatch, "service snapshot at %d from replica %d: %v", seq, peer, err)
	}
	ss := &wire.StateSnapshot{Sequence: seq, State: blob, Certificate: cert, Replica: peer}
	r.installState(ss, table, newSnapshot(r.cfg.ClusterID, blob, r.cfg.StateChunkSize))
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

// legacyClientTable reads the reply cache of a snapshot stored by a version
// that kept it in its own field (no floors then): canonical order,
// well-formed keys and sessions.
func (r *Replica) legacyClientTable(entries []*wire.ReplyCacheEntry) (clientTable, error) {
	var t clientTable
	for i, e := range entries {
		k := sessionKey{client: string(e.GetClientKey()), session: e.GetSession()}
		switch {
		case len(e.GetClientKey()) != crypto.PublicKeySize || e.GetSession() >= r.cfg.MaxSessions || e.GetTimestamp() == 0:
			return t, r.drop(ErrMalformed, "reply cache entry %d", i)
		case i > 0 && compareSessionKeys(t.sessions[i-1].key, k) >= 0:
			return t, r.drop(ErrMalformed, "reply cache entry %d out of order", i)
		}
		t.sessions = append(t.sessions, sessionEntry{key: k, ts: e.GetTimestamp(), result: e.GetResult()})
	}
	return t, nil
}

// installState makes a verified state this replica's: its client table
// replaces the sessions' executed state (requests still outstanding above it
// stay held), and it becomes the stable checkpoint, the log below discarded.
func (r *Replica) installState(ss *wire.StateSnapshot, table clientTable, snap snapshot) {
	cache := make(map[sessionKey]*clientState, len(table.sessions))
	for _, e := range table.sessions {
		cache[e.key] = &clientState{lastTS: e.ts, lastSeq: e.seq, lastResult: e.result}
	}
	r.floors, r.globalFloor = table.floors, table.global
	if r.floors == nil {
		r.floors = make(map[string]uint64)
	}
	for k, cs := range r.clients {
		if cs.pending != nil {
			nc := cache[k]
			if nc == nil {
				nc = &clientState{}
			}
			if cs.pending.GetTimestamp() > nc.lastTS && !r.belowFloor(k, nc, cs.pending.GetTimestamp()) {
				nc.pending, nc.pendingDigest, nc.authentic, nc.verified = cs.pending, cs.pendingDigest, cs.authentic, cs.verified
				cache[k] = nc
			}
		}
	}
	seq := ss.GetSequence()
	r.clients = cache
	r.recountHeld()
	r.lastExec = seq
	r.progressTick = r.ticks
	r.nextSeq = max(r.nextSeq, seq)
	r.snapshots[seq] = snap
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

// FetchingState reports the state transfer in progress, if any: the
// checkpoint being fetched and the peer asked for it.
func (r *Replica) FetchingState() (seq uint64, peer uint32, ok bool) {
	t := &r.transfer
	if t.attempts == 0 || t.seq <= r.lastExec {
		return 0, 0, false
	}
	return t.seq, t.peer, true
}
