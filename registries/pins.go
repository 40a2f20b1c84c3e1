package registries

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"strings"
	"time"

	"github.com/larder-mirror/larder/storage"
)

// pinAtFirstSight gives a downloaded artifact whose verifier had nothing to
// check the sha256 of its bytes as its pin (PinFirstSeen); true when it did.
func pinAtFirstSight(a storage.Artifact, v Verifier, digest storage.Digest) (storage.Artifact, bool) {
	if !v.Unchecked() {
		return a, false
	}
	a.Integrity = string(SRIFromHex("sha256", string(digest)))
	return a, true
}

// warnFirstSight says that a was stored unverified under declared.
func (u *Upstream) warnFirstSight(declared string, a storage.Artifact) {
	u.log.Warn("artifact stored unverified: its document declares no digest larder can check; pinned at first sight",
		"policy", PinFirstSeen, "path", a.Path, "declared", declared, "pinned", a.Integrity)
}

// pinOf is what a held artifact is pinned to: the declaration it was
// verified against, or, when there was nothing to verify (rows stored
// before PinFirstSeen, or whose declaration names only unknown
// algorithms), the sha256 of its bytes.
func pinOf(a storage.Artifact) Integrity {
	if ds, err := Integrity(a.Integrity).parse(); err == nil && len(ds) > 0 {
		return Integrity(a.Integrity)
	}
	return SRIFromHex("sha256", string(a.SHA256))
}

// Pins compares what a freshly fetched document announces with what larder
// already holds. The digest of an artifact is pinned the first time it is
// stored; an upstream that later declares other bytes for the same file is
// refused, logged loudly and counted, and the ecosystem puts the pinned
// declaration back into the document it stores, so that clients verify the
// bytes larder actually serves.
//
// It returns, by path, the pin of every announced artifact whose document
// must name it instead of what the upstream declares: a declaration of
// other bytes, and a declaration of nothing larder can check (no conflict,
// but clients may as well check what larder serves).
func (u *Upstream) Pins(ctx context.Context, pkg string, announced []storage.Artifact) (map[string]string, error) {
	held, err := u.env.Store.HeldArtifacts(ctx, u.opts.Name, pkg)
	if err != nil {
		return nil, err
	}
	pinned := make(map[string]storage.Artifact, len(held))
	for _, a := range held {
		pinned[a.Path] = a
	}
	changed := map[string]string{}
	for _, a := range announced {
		p, ok := pinned[a.Path]
		if !ok {
			continue
		}
		pin := pinOf(p)
		verdict, unchecked := heldVerdict(p, Integrity(a.Integrity))
		if verdict == pinUnchecked {
			verdict, err = u.checkHeld(ctx, p, pin, unchecked)
			if err != nil {
				// Unreadable bytes prove nothing either way; the documents
				// keep naming the pin, and the blob's own check (on serving,
				// or verify) deals with the blob.
				u.log.Warn("cannot read a held artifact to check a new declaration; keeping the pin", "package", pkg, "path", a.Path, "err", err)
				changed[a.Path] = string(pin)
				continue
			}
		}
		switch verdict {
		case pinAgrees:
			continue
		case pinNothingDeclared:
			changed[a.Path] = string(pin)
			continue
		}
		changed[a.Path] = string(pin)
		u.log.Error("UPSTREAM CHANGED THE BYTES OF A PUBLISHED VERSION: keeping the pinned ones",
			"package", pkg, "path", a.Path, "pinned", pin, "offered", a.Integrity)
		u.env.Metrics.PinConflicts.WithLabelValues(u.opts.Name).Inc()
		if err := u.env.Store.RecordPinConflict(ctx, storage.PinConflict{
			Registry: u.opts.Name, Path: a.Path, Package: pkg,
			Pinned: string(pin), Offered: a.Integrity, LastSeen: time.Now(),
		}); err != nil {
			return nil, err
		}
	}
	return changed, nil
}

// checkHeld hashes the held bytes of a with the algorithms of a declaration
// that its pin does not name. When they match, the pin learns them, so that
// the bytes are read once, not on every refresh of the document.
func (u *Upstream) checkHeld(ctx context.Context, a storage.Artifact, pin Integrity, want []declared) (pinVerdict, error) {
	rc, _, err := u.env.Store.OpenArtifact(ctx, a.SHA256, a.Size)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	v := verifierOf(want)
	if _, err := io.Copy(v, rc); err != nil {
		return 0, err
	}
	if v.Check() != nil {
		return pinConflicts, nil
	}
	for _, d := range want {
		pin = pin.Join(d.sri())
	}
	if err := u.env.Store.DB.LearnPin(ctx, u.opts.Name, a.Path, a.SHA256, string(pin)); err != nil {
		// The bytes did answer: only the saving of a re-read is lost.
		u.log.Warn("could not add checked digests to a pin; they will be checked again", "path", a.Path, "err", err)
	}
	return pinAgrees, nil
}

// sameIntegrity is true when two declarations agree on every algorithm both
// name, and share at least one (a document that only adds sha512 beside the
// sha1 it had is not a change).
func sameIntegrity(a, b Integrity) bool {
	da, errA := a.parse()
	db, errB := b.parse()
	if errA != nil || errB != nil {
		return a == b
	}
	common := 0
	for _, x := range da {
		for _, y := range db {
			if x.algo == y.algo {
				if string(x.sum) != string(y.sum) {
					return false
				}
				common++
			}
		}
	}
	return common > 0 || (len(da) == 0 && len(db) == 0)
}

// heldVerdict compares an offered declaration with what larder knows of
// the held bytes of a without reading them: its pin, and the sha256 its
// blob is named by, a fact whatever the pin says. For pinUnchecked the
// caller hashes the blob with the algorithms returned.
func heldVerdict(a storage.Artifact, offered Integrity) (pinVerdict, []declared) {
	facts := pinOf(a)
	if facts.HexDigest("sha256") == "" {
		facts = facts.Join(SRIFromHex("sha256", string(a.SHA256)))
	}
	return compareToPin(facts, offered)
}

// pinVerdict is how an upstream's declaration stands against a pin.
type pinVerdict int

const (
	pinAgrees          pinVerdict = iota // every algorithm both name agrees, and the pin names all the offer's
	pinConflicts                         // an algorithm both name disagrees, or the offer is malformed
	pinUnchecked                         // what both name agrees, but the offer names algorithms the pin does not
	pinNothingDeclared                   // the offer names nothing larder can compute
)

func (v pinVerdict) String() string {
	return [...]string{"agrees", "conflicts", "unchecked", "nothing declared"}[v]
}

// compareToPin compares an offered declaration with a pin by the
// algorithms both name; for pinUnchecked it returns the offered digests
// the pin cannot answer for.
func compareToPin(pin, offered Integrity) (pinVerdict, []declared) {
	do, err := offered.parse()
	if err != nil {
		return pinConflicts, nil
	}
	if len(do) == 0 {
		return pinNothingDeclared, nil
	}
	dp, _ := pin.parse()
	var unchecked []declared
	for _, o := range do {
		named := false
		for _, p := range dp {
			if p.algo != o.algo {
				continue
			}
			named = true
			if !bytes.Equal(p.sum, o.sum) {
				return pinConflicts, nil
			}
		}
		if !named {
			unchecked = append(unchecked, o)
		}
	}
	if len(unchecked) > 0 {
		return pinUnchecked, unchecked
	}
	return pinAgrees, nil
}

// HexDigest returns the hex digest an integrity declares for algo, "" if
// none: for ecosystems whose documents carry hex (npm's shasum, PyPI's
// sha256).
func (i Integrity) HexDigest(algo string) string {
	ds, err := i.parse()
	if err != nil {
		return ""
	}
	for _, d := range ds {
		if d.algo == algo {
			return hex.EncodeToString(d.sum)
		}
	}
	return ""
}

// Without returns the declaration without one algorithm's tokens.
func (i Integrity) Without(algo string) Integrity {
	var out Integrity
	for _, tok := range strings.Fields(string(i)) {
		if a, _, _ := strings.Cut(tok, "-"); a != algo {
			out = out.Join(Integrity(tok))
		}
	}
	return out
}
