package unitledger

import "sync"

// enforcementView keeps, per key, the state change with the highest seq
// (docs/protocol.md §5): changes may arrive twice, from the bucket and from
// the broadcast, and in any order.
type enforcementView struct {
	extensionID string
	mu          sync.Mutex
	global      *StateChange
	ext         *StateChange
}

// apply records c if it is newer than what the view holds for its key, and
// reports whether it was.
func (v *enforcementView) apply(c StateChange) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	var slot **StateChange
	switch {
	case c.Scope == "global":
		slot = &v.global
	case c.Scope == "extension" && c.ExtensionID != nil && *c.ExtensionID == v.extensionID:
		slot = &v.ext
	default:
		return false
	}
	if *slot != nil && c.Seq <= (*slot).Seq {
		return false
	}
	copied := c
	*slot = &copied
	return true
}

// state is the extension's effective state: its own DISABLED or UNLICENSED
// state, else the global state (OK before any change was announced).
func (v *enforcementView) state() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	global := StateOK
	if v.global != nil {
		global = v.global.State
	}
	if v.ext != nil && disabled(v.ext.State) {
		return v.ext.State
	}
	return global
}

// reason explains the effective state, when the server gave a reason.
func (v *enforcementView) reason() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ext != nil && disabled(v.ext.State) {
		return v.ext.Reason
	}
	if v.global != nil {
		return v.global.Reason
	}
	return ""
}

func disabled(state string) bool { return state == StateDisabled || state == StateUnlicensed }
