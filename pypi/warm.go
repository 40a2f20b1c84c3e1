package pypi

import (
	"encoding/json"
	"fmt"
	"strings"
)

// WarmFile is one file a warm run fetches, and what it must hash to.
type WarmFile struct {
	Path   string   // under the registry's mount: "files/{project}/{filename}"
	SHA256 []string // acceptable hex digests; empty when neither lockfile nor page says
}

// WarmTargets picks, from a project's PEP 691 JSON page as larder serves it,
// the files a locked requirement needs: the file a pylock entry names; the
// files whose sha256 a requirements.txt --hash lists; or, without hashes,
// every file of the pinned version that is not yanked (warm does not know
// the platform the install will run on).
func WarmTargets(page []byte, lf LockedFile) ([]WarmFile, error) {
	var p struct {
		Files []struct {
			Filename string            `json:"filename"`
			Hashes   map[string]string `json:"hashes"`
			Yanked   any               `json:"yanked"`
			Metadata any               `json:"core-metadata"`
		} `json:"files"`
	}
	if err := json.Unmarshal(page, &p); err != nil {
		return nil, fmt.Errorf("%s: project page: %w", lf.Project, err)
	}
	want := map[string]bool{}
	for _, h := range lf.Hashes {
		if algo, hex, ok := strings.Cut(h, ":"); ok && algo == "sha256" {
			want[strings.ToLower(hex)] = true
		}
	}
	var out []WarmFile
	for _, f := range p.Files {
		sum := strings.ToLower(f.Hashes["sha256"])
		switch {
		case lf.Filename != "":
			if f.Filename != lf.Filename {
				continue
			}
		case len(want) > 0:
			if !want[sum] {
				continue
			}
		default:
			if versionFromFilename(lf.Project, f.Filename) != lf.Version && Normalize(versionFromFilename(lf.Project, f.Filename)) != Normalize(lf.Version) {
				continue
			}
			if y, ok := f.Yanked.(bool); (ok && y) || (!ok && f.Yanked != nil) {
				continue
			}
		}
		wf := WarmFile{Path: filePath(Normalize(lf.Project), f.Filename)}
		if len(want) > 0 {
			for h := range want {
				wf.SHA256 = append(wf.SHA256, h)
			}
		} else if sum != "" {
			wf.SHA256 = []string{sum}
		}
		out = append(out, wf)
		// pip and uv read the PEP 658 metadata before the file; offline, a
		// missing one fails the install.
		if m, ok := f.Metadata.(map[string]any); ok {
			mf := WarmFile{Path: wf.Path + ".metadata"}
			if h, ok := m["sha256"].(string); ok {
				mf.SHA256 = []string{strings.ToLower(h)}
			}
			out = append(out, mf)
		} else if b, ok := f.Metadata.(bool); ok && b {
			out = append(out, WarmFile{Path: wf.Path + ".metadata"})
		}
	}
	if len(out) == 0 {
		what := lf.Project + "==" + lf.Version
		if lf.Filename != "" {
			what = lf.Filename
		}
		return nil, fmt.Errorf("%s: no matching file on the project page", what)
	}
	return out, nil
}
