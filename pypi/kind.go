package pypi

import (
	"bytes"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/larder-mirror/larder/registries"
	"github.com/larder-mirror/larder/storage"
)

// Kind describes a Python package index to cmd/larder's table of kinds.
var Kind = registries.Kind{
	Name:        "pypi",
	Upstream:    "https://pypi.org/simple/",
	MetadataTTL: 10 * time.Minute,
	Default:     true,
	Keys:        []string{"file_hosts", "files_ahead"},
	Decode:      decodeKeys,
	// The digests the documents declare: dist.integrity and shasum for npm,
	// the hashes of PyPI's pages.
	Verify: registries.VerifyDeclared,
	New: func(up *registries.Upstream, publicURL string, opts any) registries.Registry {
		o, _ := opts.(Options)
		return New(up, publicURL, o)
	},
	DatesReleases: true,
	Lockfiles:     []registries.LockfileReader{requirementsFormat{}, pylockFormat{}},
}

// Options are a pypi registry's own keys, decoded.
type Options struct {
	// NoFilesAhead keeps larder from loading the file whose metadata
	// file a client reads (see loadFileAhead): files_ahead = false.
	NoFilesAhead bool
}

// decodeKeys reads file_hosts, the only hosts besides the upstream that
// files may come from (DefaultFileHosts when absent), and files_ahead.
func decodeKeys(keys registries.KindKeys, o *registries.Options) (any, error) {
	hosts, err := keys.Hosts("file_hosts", DefaultFileHosts)
	if err != nil {
		return nil, err
	}
	o.AlsoFrom = hosts
	var opts Options
	if raw, ok := keys["files_ahead"]; ok {
		on, isBool := raw.(bool)
		if !isBool {
			return nil, &registries.ConfigError{Key: "files_ahead", Err: fmt.Errorf("want true or false")}
		}
		opts.NoFilesAhead = !on
	}
	return opts, nil
}

// requirementsFormat reads pip's requirements files: requirements.txt and
// its kin (requirements-dev.txt, base.txt, requirements.in, constraints.txt).
// Their content has no mark of its own, so only the name tells them.
type requirementsFormat struct{}

func (requirementsFormat) Format() string { return "requirements.txt" }

func (requirementsFormat) Match(name string, _ []byte) registries.LockMatch {
	base := strings.ToLower(name)
	if strings.HasSuffix(base, ".txt") || strings.HasPrefix(base, "requirements") || strings.HasPrefix(base, "constraints") {
		return registries.ByName
	}
	return registries.NoMatch
}

func (requirementsFormat) Read(path string) ([]registries.Pin, []error, error) {
	return pins(ReadRequirements(path))
}

// pylockFormat reads PEP 751 lock files: "pylock.toml", "pylock.NAME.toml",
// or any file whose top-level keys begin with lock-version.
type pylockFormat struct{}

func (pylockFormat) Format() string { return "pylock.toml" }

func (pylockFormat) Match(name string, head []byte) registries.LockMatch {
	base := strings.ToLower(name)
	switch {
	case base == "pylock.toml", strings.HasPrefix(base, "pylock.") && strings.HasSuffix(base, ".toml"):
		return registries.ByName
	case bytes.HasPrefix(head, []byte("lock-version")) || bytes.Contains(head, []byte("\nlock-version")):
		return registries.ByContent
	}
	return registries.NoMatch
}

func (pylockFormat) Read(path string) ([]registries.Pin, []error, error) {
	return pins(ReadPylock(path))
}

func pins(locked []LockedFile, skipped []error, err error) ([]registries.Pin, []error, error) {
	if err != nil {
		return nil, nil, err
	}
	out := make([]registries.Pin, len(locked))
	for i, lf := range locked {
		label := lf.Project + "==" + lf.Version
		if lf.Filename != "" {
			label = lf.Filename
		}
		out[i] = registries.Pin{Label: label, Release: release(lf)}
	}
	return out, skipped, nil
}

// release finds a pin's files: on its project's PEP 691 page for warm
// (WarmTargets), among the held artifacts of its project for export.
func release(lf LockedFile) *registries.Release {
	project := Normalize(lf.Project)
	return &registries.Release{
		Package:  project,
		Document: "simple/" + url.PathEscape(project) + "/",
		Accept:   "application/vnd.pypi.simple.v1+json",
		Files: func(page []byte) ([]registries.PinnedFile, error) {
			targets, err := WarmTargets(page, lf)
			if err != nil {
				return nil, err
			}
			files := make([]registries.PinnedFile, len(targets))
			for i, t := range targets {
				files[i].Path = t.Path
				if len(t.SHA256) == 1 {
					files[i].Integrity = registries.SRIFromHex("sha256", t.SHA256[0])
				}
			}
			return files, nil
		},
		Held: func(a storage.Artifact) []string { return heldPaths(lf, a) },
	}
}

// heldPaths keeps a held file of a pin, with its PEP 658 metadata file: the
// file a pylock entry names; the files whose sha256 a requirements.txt
// --hash lists; or, without hashes, every file of the pinned version.
func heldPaths(lf LockedFile, a storage.Artifact) []string {
	if strings.HasSuffix(a.Path, ".metadata") {
		return nil
	}
	want := map[string]bool{}
	for _, h := range lf.Hashes {
		if algo, hex, ok := strings.Cut(h, ":"); ok && algo == "sha256" {
			want[hex] = true
		}
	}
	switch {
	case lf.Filename != "":
		if path.Base(a.Path) != lf.Filename {
			return nil
		}
	case len(want) > 0:
		if !want[string(a.SHA256)] {
			return nil
		}
	case Normalize(a.Version) != Normalize(lf.Version):
		return nil
	}
	return []string{a.Path, a.Path + ".metadata"}
}
