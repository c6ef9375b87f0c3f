package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/meshkit/meshkit/rt2rt/wire"
)

// Execute applies one storage-tunnel message to st and returns the REPLY a
// Calvin registry (storage_type = "local") sends for it, or nil when nothing
// is to be sent (a message without msg_uuid, or a REPLY). value is a
// TUNNEL_DATA payload: a *wire.StorageRequest or any other decoded value.
//
// Shapes (§6.2): GET (found), GET_CONCAT and GET_INDEX answer with "value";
// the others, a GET of a missing key (404), malformed requests (400) and
// writes refused by a full store (ErrStoreFull, 503) answer with
// "response". Key-based commands echo "key".
func Execute(ctx context.Context, st Store, value any) *wire.TunnelReply {
	req, ok := value.(*wire.StorageRequest)
	if !ok {
		return malformed(value)
	}
	if req.MsgUUID == "" {
		return nil
	}
	reply := &wire.TunnelReply{SubEnvelope: wire.SubEnvelope{Cmd: wire.SubReply, MsgUUID: req.MsgUUID}}
	if keyed(req.Cmd) {
		reply.Key = req.Key
	}
	if err := req.Validate(); err != nil {
		return withStatus(reply, wire.StatusBadRequest)
	}
	var err error
	switch req.Cmd {
	case wire.StorageSet:
		err = st.Set(ctx, req.Key, req.Value)
	case wire.StorageGet:
		var v any
		if v, err = st.Get(ctx, req.Key); err == nil {
			reply.Value = v
			return reply
		}
	case wire.StorageDelete:
		err = st.Delete(ctx, req.Key)
	case wire.StorageAppend, wire.StorageRemove, wire.StorageAddIndex, wire.StorageRemoveIndex:
		items, ok := req.Value.([]any)
		if !ok {
			return withStatus(reply, wire.StatusBadRequest)
		}
		switch req.Cmd {
		case wire.StorageAppend:
			err = st.Append(ctx, req.Key, items)
		case wire.StorageRemove:
			err = st.Remove(ctx, req.Key, items)
		case wire.StorageAddIndex:
			err = st.AddIndex(ctx, req.Index, items)
		default:
			err = st.RemoveIndex(ctx, req.Index, items)
		}
	case wire.StorageGetConcat, wire.StorageGetIndex:
		var l []any
		if req.Cmd == wire.StorageGetConcat {
			l, err = st.GetConcat(ctx, req.Key)
		} else {
			l, err = st.GetIndex(ctx, req.Index)
		}
		if err == nil {
			if l == nil {
				l = []any{}
			}
			reply.Value = l
			return reply
		}
	default:
		err = fmt.Errorf("%w: unknown storage command %q", ErrBadRequest, req.Cmd)
	}
	return withStatus(reply, statusOf(err))
}

// keyed reports the commands whose replies echo "key".
func keyed(cmd string) bool {
	switch cmd {
	case wire.StorageSet, wire.StorageGet, wire.StorageDelete, wire.StorageAppend,
		wire.StorageRemove, wire.StorageGetConcat:
		return true
	}
	return false
}

func statusOf(err error) int {
	switch {
	case err == nil:
		return wire.StatusOK
	case errors.Is(err, ErrNotFound):
		return wire.StatusNotFound
	case errors.Is(err, ErrBadRequest):
		return wire.StatusBadRequest
	case errors.Is(err, ErrStoreFull):
		// 503 rather than 500: the registry works, and the write may
		// succeed once records are deleted.
		return wire.StatusServiceUnavailable
	}
	return wire.StatusInternalError
}

func withStatus(r *wire.TunnelReply, status int) *wire.TunnelReply {
	resp := wire.NewResponse(status, nil)
	r.Response = &resp
	r.Value = nil
	return r
}

// malformed answers a message that is not a storage request: 400 when it
// carries a msg_uuid to answer to, nothing for replies and id-less values.
func malformed(value any) *wire.TunnelReply {
	var cmd, id string
	switch v := value.(type) {
	case wire.SubMessage:
		h := v.SubHeader()
		cmd, id = h.Cmd, h.MsgUUID
	case map[string]any:
		cmd, _ = v["cmd"].(string)
		id, _ = v["msg_uuid"].(string)
	}
	if id == "" || cmd == wire.SubReply {
		return nil
	}
	return withStatus(&wire.TunnelReply{SubEnvelope: wire.SubEnvelope{Cmd: wire.SubReply, MsgUUID: id}}, wire.StatusBadRequest)
}

// refusal is the answer of a node that serves no registry: response 500
// for every request that has a msg_uuid.
func refusal(value any) *wire.TunnelReply {
	req, ok := value.(*wire.StorageRequest)
	if !ok {
		return malformed(value)
	}
	if req.MsgUUID == "" {
		return nil
	}
	reply := &wire.TunnelReply{SubEnvelope: wire.SubEnvelope{Cmd: wire.SubReply, MsgUUID: req.MsgUUID}}
	if keyed(req.Cmd) {
		reply.Key = req.Key
	}
	return withStatus(reply, wire.StatusInternalError)
}
