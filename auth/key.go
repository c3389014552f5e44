package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// SecretLen is the length of a key's secret in bytes (256 bits, the size of
// an HMAC-SHA-256 block's worth of entropy that RFC 2104 section 3
// recommends at least: the hash's output length).
const SecretLen = 32

// Role says what a key of a Keyring is used for.
type Role uint8

// Roles. A keyring has exactly one current key and at most one previous and
// one next key; all of them verify, only the current one signs new messages.
const (
	// RoleCurrent signs outgoing messages and verifies incoming ones.
	RoleCurrent Role = iota
	// RolePrevious verifies only: the key before the last rotation, kept so
	// that peers not yet given the new key still get through.
	RolePrevious
	// RoleNext verifies only: a key staged for the next rotation, so that
	// every peer can verify it before anyone signs with it.
	RoleNext
)

var roleNames = [...]string{RoleCurrent: "current", RolePrevious: "previous", RoleNext: "next"}

// String returns the role's name as written in key files.
func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

// Key is one pre-shared key: its ID (the key ID field of the header), its
// role and its secret.
type Key struct {
	ID     uint16
	Role   Role
	Secret [SecretLen]byte
}

// GenerateKey returns a new key with a random secret from crypto/rand.
func GenerateKey(id uint16, role Role) (Key, error) {
	k := Key{ID: id, Role: role}
	if _, err := rand.Read(k.Secret[:]); err != nil {
		return Key{}, fmt.Errorf("auth: generating a key: %w", err)
	}
	return k, nil
}

// Errors of keyrings and key files.
var (
	// ErrKeyFile reports a key file (or $UDPKIT_KEY text) that does not
	// follow the format; the wrapping error names the line.
	ErrKeyFile = errors.New("auth: bad key file")
	// ErrUnknownKey reports a datagram signed with a key ID the keyring
	// does not hold, or a request to sign with one.
	ErrUnknownKey = errors.New("auth: unknown key ID")
)

// macState is one HMAC-SHA-256 instance and a buffer for its sum.
type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// maxFree bounds the HMAC states a key keeps for reuse: about one per
// goroutine that verifies at the same time.
const maxFree = 16

// keyEntry is a Key with a free list of HMAC states. HMAC states are not
// safe for concurrent use; a mutex-guarded stack rather than a sync.Pool
// keeps reuse deterministic (the race detector drops pooled items at
// random, which would make the zero-allocation tests meaningless there).
type keyEntry struct {
	Key
	mu   sync.Mutex
	free []*macState
}

func (e *keyEntry) get() *macState {
	e.mu.Lock()
	if n := len(e.free); n > 0 {
		m := e.free[n-1]
		e.free = e.free[:n-1]
		e.mu.Unlock()
		m.h.Reset()
		return m
	}
	e.mu.Unlock()
	return &macState{h: hmac.New(sha256.New, e.Secret[:])}
}

func (e *keyEntry) put(m *macState) {
	e.mu.Lock()
	if len(e.free) < maxFree {
		e.free = append(e.free, m)
	}
	e.mu.Unlock()
}

// Keyring is a set of keys by ID: one current key and at most one previous
// and one next key. It is immutable once made and safe for concurrent use;
// rotating keys makes a new Keyring.
type Keyring struct {
	keys    []*keyEntry // at most 3: a linear scan beats a map
	current *keyEntry
}

// NewKeyring returns a keyring of keys, which must hold exactly one current
// key, at most one previous and one next key, distinct IDs and distinct
// secrets (a repeated secret is a copy-and-paste mistake), none of them all
// zero.
func NewKeyring(keys ...Key) (*Keyring, error) {
	kr := &Keyring{}
	var roles [len(roleNames)]int
	var zero [SecretLen]byte
	for i, k := range keys {
		if int(k.Role) >= len(roleNames) {
			return nil, fmt.Errorf("%w: key %d has an unknown role %v", ErrKeyFile, k.ID, k.Role)
		}
		if roles[k.Role]++; roles[k.Role] > 1 {
			return nil, fmt.Errorf("%w: more than one %v key", ErrKeyFile, k.Role)
		}
		if subtle.ConstantTimeCompare(k.Secret[:], zero[:]) == 1 {
			return nil, fmt.Errorf("%w: key %d has an all-zero secret", ErrKeyFile, k.ID)
		}
		for _, o := range keys[:i] {
			if o.ID == k.ID {
				return nil, fmt.Errorf("%w: key ID %d used twice", ErrKeyFile, k.ID)
			}
			if subtle.ConstantTimeCompare(o.Secret[:], k.Secret[:]) == 1 {
				return nil, fmt.Errorf("%w: keys %d and %d have the same secret", ErrKeyFile, o.ID, k.ID)
			}
		}
		e := &keyEntry{Key: k, free: make([]*macState, 0, maxFree)}
		kr.keys = append(kr.keys, e)
		if k.Role == RoleCurrent {
			kr.current = e
		}
	}
	if kr.current == nil {
		return nil, fmt.Errorf("%w: no current key", ErrKeyFile)
	}
	return kr, nil
}

// Current returns the ID of the key that signs new messages.
func (kr *Keyring) Current() uint16 { return kr.current.ID }

// Keys returns a copy of the keys, the current one first.
func (kr *Keyring) Keys() []Key {
	out := []Key{kr.current.Key}
	for _, e := range kr.keys {
		if e != kr.current {
			out = append(out, e.Key)
		}
	}
	return out
}

// Has reports whether the keyring holds a key with this ID.
func (kr *Keyring) Has(id uint16) bool { return kr.lookup(id) != nil }

func (kr *Keyring) lookup(id uint16) *keyEntry {
	for _, e := range kr.keys {
		if e.ID == id {
			return e
		}
	}
	return nil
}

// freeID returns the first ID after id that no key of keys uses.
func freeID(keys []Key, id uint16) uint16 {
	for {
		id++
		used := false
		for _, k := range keys {
			used = used || k.ID == id
		}
		if !used {
			return id
		}
	}
}

// Rotate returns the keyring after one rotation: the next key, if there is
// one, or else a newly generated key (ID one above the current one's)
// becomes current; the current key becomes previous; the previous key is
// dropped.
func (kr *Keyring) Rotate() (*Keyring, error) {
	keys := kr.Keys()
	var next *Key
	for i := range keys {
		if keys[i].Role == RoleNext {
			next = &keys[i]
		}
	}
	if next == nil {
		k, err := GenerateKey(freeID(keys, kr.current.ID), RoleNext)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
		next = &keys[len(keys)-1]
	}
	out := make([]Key, 0, 2)
	out = append(out, Key{ID: next.ID, Role: RoleCurrent, Secret: next.Secret})
	prev := kr.current.Key
	prev.Role = RolePrevious
	return NewKeyring(append(out, prev)...)
}

// Stage returns the keyring with a newly generated next key (ID one above
// the highest in use after the current one), which every peer accepts once
// it has the new keyring and which the next Rotate makes current. It fails
// when a next key is already staged.
func (kr *Keyring) Stage() (*Keyring, error) {
	keys := kr.Keys()
	for _, k := range keys {
		if k.Role == RoleNext {
			return nil, fmt.Errorf("auth: key %d is already staged as the next key", k.ID)
		}
	}
	k, err := GenerateKey(freeID(keys, kr.current.ID), RoleNext)
	if err != nil {
		return nil, err
	}
	return NewKeyring(append(keys, k)...)
}
