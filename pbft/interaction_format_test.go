package pbft_test

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/bulwark-bft/bulwark/pbft"
	"github.com/bulwark-bft/bulwark/pbft/wire"
	"github.com/bulwark-bft/bulwark/statemachine/kv"
)

// The trace's compact, stable message format, e.g.
//
//	1->0 PREPARE v=0 s=1 d=ab12cd34
//
// Digests show their first four bytes. A replica message whose signer field
// names another replica than the link it came on says "signed as N".

// msgType is the name of m's oneof field with dashes, e.g. "pre-prepare".
// It is read by reflection so that message types added to the wire (state
// transfer, view change) print without changes here.
func msgType(m *wire.Message) string {
	pm := m.ProtoReflect()
	fd := pm.WhichOneof(pm.Descriptor().Oneofs().ByName("content"))
	if fd == nil {
		return "empty"
	}
	return strings.ReplaceAll(string(fd.Name()), "_", "-")
}

func short(d []byte) string {
	if len(d) < 4 {
		return hex.EncodeToString(d)
	}
	return hex.EncodeToString(d[:4])
}

func (h *harness) describe(m *wire.Message, sender int) string {
	signedAs := func(id uint32) string {
		if int(id) != sender {
			return fmt.Sprintf(" (signed as %d)", id)
		}
		return ""
	}
	switch c := m.Content.(type) {
	case *wire.Message_Request:
		s := "REQUEST " + h.reqName(c.Request) + " " + describeOp(c.Request.GetOperation())
		if c.Request.GetReadOnly() {
			s += " read-only"
		}
		return s
	case *wire.Message_Reply:
		r := c.Reply
		return fmt.Sprintf("REPLY v=%d %s.%d %s", r.GetView(), h.clientName(r.GetClientKey()), r.GetTimestamp(), describeResult(r.GetResult()))
	case *wire.Message_PrePrepare:
		pp := c.PrePrepare
		names := make([]string, len(pp.GetRequests()))
		for i, req := range pp.GetRequests() {
			names[i] = h.reqName(req)
		}
		batch := "[" + strings.Join(names, " ") + "]"
		if null := pbft.BatchDigest(clusterID, nil); len(names) == 0 && string(pp.GetDigest()) != string(null[:]) {
			batch = "(digest only)"
		}
		return fmt.Sprintf("PRE-PREPARE v=%d s=%d d=%s %s%s", pp.GetView(), pp.GetSequence(), short(pp.GetDigest()),
			batch, signedAs(pp.GetReplica()))
	case *wire.Message_Prepare:
		p := c.Prepare
		return fmt.Sprintf("PREPARE v=%d s=%d d=%s%s", p.GetView(), p.GetSequence(), short(p.GetDigest()), signedAs(p.GetReplica()))
	case *wire.Message_Commit:
		p := c.Commit
		return fmt.Sprintf("COMMIT v=%d s=%d d=%s%s", p.GetView(), p.GetSequence(), short(p.GetDigest()), signedAs(p.GetReplica()))
	case *wire.Message_Checkpoint:
		cp := c.Checkpoint
		return fmt.Sprintf("CHECKPOINT s=%d d=%s%s", cp.GetSequence(), short(cp.GetStateDigest()), signedAs(cp.GetReplica()))
	case *wire.Message_ViewChange:
		vc := c.ViewChange
		var prepared []string
		for _, pc := range vc.GetPrepared() {
			pp := pc.GetPrePrepare()
			prepared = append(prepared, fmt.Sprintf("s=%d@v%d d=%s", pp.GetSequence(), pp.GetView(), short(pp.GetDigest())))
		}
		return fmt.Sprintf("VIEW-CHANGE v=%d h=%d prepared=[%s]%s", vc.GetNewView(), vc.GetStableSequence(),
			strings.Join(prepared, " "), signedAs(vc.GetReplica()))
	case *wire.Message_NewView:
		nv := c.NewView
		var from []string
		for _, vc := range nv.GetViewChanges() {
			from = append(from, fmt.Sprint(vc.GetReplica()))
		}
		var pps []string
		for _, pp := range nv.GetPrePrepares() {
			pps = append(pps, fmt.Sprintf("s=%d d=%s", pp.GetSequence(), short(pp.GetDigest())))
		}
		return fmt.Sprintf("NEW-VIEW v=%d from=(%s) [%s]%s", nv.GetView(), strings.Join(from, ","), strings.Join(pps, " "),
			signedAs(nv.GetReplica()))
	case *wire.Message_Status:
		st := c.Status
		suspects := ""
		if st.GetSuspects() {
			suspects = " suspects"
		}
		return fmt.Sprintf("STATUS v=%d exec=%d h=%d%s%s", st.GetView(), st.GetLastExecuted(), st.GetStableSequence(), suspects, signedAs(st.GetReplica()))
	}
	// Anything else: its type and, if it has one, its sequence number.
	out := strings.ToUpper(msgType(m))
	pm := m.ProtoReflect()
	if fd := pm.WhichOneof(pm.Descriptor().Oneofs().ByName("content")); fd != nil && fd.Message() != nil {
		inner := pm.Get(fd).Message()
		if seq := inner.Descriptor().Fields().ByName("sequence"); seq != nil {
			out += fmt.Sprintf(" s=%d", inner.Get(seq).Uint())
		}
	}
	return out
}

func (h *harness) clientName(key []byte) string {
	if name, ok := h.byKey[string(key)]; ok {
		return name
	}
	return "?" + short(key)
}

// reqName names a request client.timestamp, e.g. c1.3 (client/session.ts
// for sessions other than 0).
func (h *harness) reqName(req *wire.Request) string {
	name := h.clientName(req.GetClientKey())
	if s := req.GetSession(); s != 0 {
		name = fmt.Sprintf("%s/%d", name, s)
	}
	return fmt.Sprintf("%s.%d", name, req.GetTimestamp())
}

func describeOp(op []byte) string {
	o, err := kv.DecodeOp(op)
	if err != nil {
		return "op:" + hex.EncodeToString(op)
	}
	switch o.Kind {
	case kv.OpPut:
		return fmt.Sprintf("put %s %s", o.Key, o.Value)
	case kv.OpCAS:
		return fmt.Sprintf("cas %s %s %s", o.Key, o.Old, o.Value)
	}
	return fmt.Sprintf("%s %s", o.Kind, o.Key)
}

func describeResult(b []byte) string {
	if b == nil {
		return "<none>"
	}
	r, err := kv.DecodeResult(b)
	if err != nil {
		return "result:" + hex.EncodeToString(b)
	}
	s := r.Status.String()
	if r.Value != nil {
		s += " " + string(r.Value)
	}
	if r.Err != "" {
		s += " (" + r.Err + ")"
	}
	return s
}

// parseOp reads op=(put,k,v), op=(get,k), op=(delete,k), op=(cas,k,old,new).
func parseOp(vals []string) ([]byte, error) {
	bad := fmt.Errorf("op: want (put,k,v), (get,k), (delete,k) or (cas,k,old,new), got %v", vals)
	if len(vals) == 0 {
		return nil, bad
	}
	arg := func(i int) []byte { return []byte(vals[i]) }
	switch {
	case vals[0] == "put" && len(vals) == 3:
		return kv.EncodePut(arg(1), arg(2)), nil
	case vals[0] == "get" && len(vals) == 2:
		return kv.EncodeGet(arg(1)), nil
	case vals[0] == "delete" && len(vals) == 2:
		return kv.EncodeDelete(arg(1)), nil
	case vals[0] == "cas" && len(vals) == 4:
		return kv.EncodeCAS(arg(1), arg(2), arg(3)), nil
	}
	return nil, bad
}

// msgSeq is the sequence number a message is about, for deliver seq=.
func msgSeq(m *wire.Message) string {
	switch c := m.Content.(type) {
	case *wire.Message_PrePrepare:
		return fmt.Sprint(c.PrePrepare.GetSequence())
	case *wire.Message_Prepare:
		return fmt.Sprint(c.Prepare.GetSequence())
	case *wire.Message_Commit:
		return fmt.Sprint(c.Commit.GetSequence())
	case *wire.Message_Checkpoint:
		return fmt.Sprint(c.Checkpoint.GetSequence())
	}
	return ""
}
