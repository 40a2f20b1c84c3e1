package storage

import (
	"fmt"
	"strconv"
	"strings"
)

// Shard is one part of a deterministic partition of blobs by digest, so
// that several nodes can split a pass over a shared store between them:
// run with 1/N, 2/N … N/N, together they cover every blob once, whichever
// node runs which part and whenever. The zero value is the whole store.
type Shard struct {
	Index int `json:"index"` // 1 to Count
	Count int `json:"count"` // 0: no partition
}

// ParseShard reads K/N (1 ≤ K ≤ N).
func ParseShard(s string) (Shard, error) {
	k, n, ok := strings.Cut(s, "/")
	index, err1 := strconv.Atoi(k)
	count, err2 := strconv.Atoi(n)
	if !ok || err1 != nil || err2 != nil || count < 1 || index < 1 || index > count {
		return Shard{}, fmt.Errorf("shard %q: want K/N with 1 ≤ K ≤ N, such as 2/3 (the second of three parts)", s)
	}
	return Shard{Index: index, Count: count}, nil
}

func (s Shard) String() string {
	if s.Count == 0 {
		return "all"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Holds reports whether d falls in this part. A digest is uniform in its
// bits, so its first 64 bits modulo Count spread blobs evenly; the
// partition depends on nothing but the digest and Count.
func (s Shard) Holds(d Digest) bool {
	if s.Count <= 1 {
		return true
	}
	if len(d) < 16 {
		return s.Index == 1 // not a digest: no part of a store, so any one part
	}
	v, err := strconv.ParseUint(string(d[:16]), 16, 64)
	if err != nil {
		return s.Index == 1
	}
	return int(v%uint64(s.Count)) == s.Index-1
}
