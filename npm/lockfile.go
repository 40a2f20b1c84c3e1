package npm

// Lockfile readers for `larder warm`: every package version a project's
// lockfile pins, with the integrity the lockfile recorded, so that the cache
// can be filled before an offline install.
//
// Formats, and where their rules come from:
//
//   - package-lock.json, npm-shrinkwrap.json, node_modules/.package-lock.json
//     (https://docs.npmjs.com/cli/configuring-npm/package-lock-json):
//     lockfileVersion 1 nests "dependencies"; 2 and 3 key "packages" by the
//     install path ("node_modules/a/node_modules/@s/b").
//   - yarn.lock, classic ("# yarn lockfile v1"; @yarnpkg/lockfile's format:
//     `"a@^1", "a@^1.1":` then indented `version "1.2.3"`, `resolved "url#sha1"`,
//     `integrity sha512-...`).
//   - yarn.lock, berry (YAML with __metadata; resolutions "name@npm:1.2.3").
//   - pnpm-lock.yaml, lockfileVersion 5.x ("/name/1.2.3_peer@1"), 6.0
//     ("/name@1.2.3(peer@1)") and 9.0 ("name@1.2.3"), from
//     https://github.com/pnpm/spec/tree/master/lockfile.
//
// A lockfile is input from outside: every name is checked with ValidateName
// and every version must be an exact semver version before it can become a
// path, so a hostile lockfile yields errors, never a path outside the mount.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/larder-mirror/larder/registries"
)

// LockedPackage is one package version a lockfile pins.
type LockedPackage struct {
	Name    string // "lodash", "@scope/pkg"; the real name, never an alias
	Version string // an exact semver version
	// Integrity is the Subresource Integrity string the lockfile gives
	// ("sha512-..."), "" if none. yarn classic's "#sha1hex" URL fragment
	// becomes "sha1-<base64>" when the entry has no integrity field. When a
	// lockfile names one version twice with different algorithms, both are
	// kept, space-separated, as SRI allows.
	Integrity string
	Resolved  string // the lockfile's URL if any (informational); "" if none
}

// TarballPath returns the path of a locked package's tarball under the
// registry mount, "name/-/base-version.tgz".
func (p LockedPackage) TarballPath() string { return tarballPath(p.Name, p.Version) }

// ErrNotFromRegistry marks a locked dependency that no registry serves (a git
// repository, a remote tarball): warm cannot fetch it and says so. Local
// dependencies (workspaces, links, file: folders) are skipped silently, as
// there is nothing to fetch.
var ErrNotFromRegistry = errors.New("not from a registry: cannot warm")

// errBadLockEntry marks an entry that could not be read (bad version,
// malformed integrity, wrong type).
var errBadLockEntry = errors.New("invalid lockfile entry")

// maxLockfileSize bounds what ReadLockfile reads; real lockfiles of large
// monorepos run to tens of megabytes.
const maxLockfileSize = 256 << 20

// ReadLockfile reads the lockfile at path; see ParseLockfile.
func ReadLockfile(path string) ([]LockedPackage, []error, error) {
	data, err := registries.ReadLocalFile(path, maxLockfileSize)
	if err != nil {
		return nil, nil, err
	}
	return ParseLockfile(filepath.Base(path), data)
}

// ParseLockfile reads a lockfile's bytes; name is the file's base name. It
// detects the format by name ("package-lock.json", "npm-shrinkwrap.json",
// "yarn.lock", "pnpm-lock.yaml") and content (yarn classic or berry; any
// name whose content is recognisable). The packages come sorted by name and
// version, each (name, version) once. The []error list holds entries that
// were skipped (invalid names or versions, dependencies no registry serves);
// the error is for a file that cannot be read as a lockfile at all.
func ParseLockfile(name string, data []byte) ([]LockedPackage, []error, error) {
	c := newCollector()
	var err error
	switch detectFormat(name, data) {
	case formatPackageLock:
		err = c.packageLock(data)
	case formatYarnClassic:
		err = c.yarnClassic(data)
	case formatYarnBerry:
		err = c.yarnBerry(data)
	case formatPnpm:
		err = c.pnpm(data)
	default:
		err = errors.New("not a lockfile larder can read (package-lock.json, npm-shrinkwrap.json, yarn.lock, pnpm-lock.yaml)")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	pkgs, errs := c.result()
	return pkgs, errs, nil
}

type lockFormat int

const (
	formatUnknown lockFormat = iota
	formatPackageLock
	formatYarnClassic
	formatYarnBerry
	formatPnpm
)

func detectFormat(name string, data []byte) lockFormat {
	switch strings.ToLower(name) {
	case "package-lock.json", "npm-shrinkwrap.json", ".package-lock.json":
		return formatPackageLock
	case "pnpm-lock.yaml", "pnpm-lock.yml":
		return formatPnpm
	case "yarn.lock":
		if isYarnBerry(data) {
			return formatYarnBerry
		}
		return formatYarnClassic
	}
	switch trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff"); {
	case len(trimmed) > 0 && trimmed[0] == '{':
		return formatPackageLock
	case bytes.Contains(data, []byte("# yarn lockfile v1")):
		return formatYarnClassic
	case isYarnBerry(data):
		return formatYarnBerry
	case hasLineStarting(data, "lockfileVersion:"):
		return formatPnpm
	}
	return formatUnknown
}

func isYarnBerry(data []byte) bool {
	return hasLineStarting(data, "__metadata:") || hasLineStarting(data, `"__metadata":`)
}

func hasLineStarting(data []byte, prefix string) bool {
	return bytes.HasPrefix(data, []byte(prefix)) || bytes.Contains(data, []byte("\n"+prefix))
}

// collector validates and deduplicates what the format readers find.
type collector struct {
	pkgs  []LockedPackage
	index map[string]int // "name@version" → index in pkgs
	errs  []error
}

func newCollector() *collector { return &collector{index: map[string]int{}} }

func (c *collector) fail(where string, err error) {
	c.errs = append(c.errs, fmt.Errorf("%s: %w", where, err))
}

// add validates p and keeps it unless (name, version) is already there;
// where says which entry of the lockfile it came from, for errors.
func (c *collector) add(where string, p LockedPackage) {
	if err := ValidateName(p.Name); err != nil {
		c.fail(where, err)
		return
	}
	if !isExactVersion(p.Version) {
		c.fail(where, fmt.Errorf("%w: %s: version %q is not an exact semver version", errBadLockEntry, p.Name, p.Version))
		return
	}
	p.Integrity = strings.Join(strings.Fields(p.Integrity), " ")
	if err := checkSRI(p.Integrity); err != nil {
		// Fail closed: a package whose recorded digest cannot be read
		// cannot be checked against it.
		c.fail(where, fmt.Errorf("%w: %s@%s: %v", errBadLockEntry, p.Name, p.Version, err))
		return
	}
	key := p.Name + "@" + p.Version
	i, ok := c.index[key]
	if !ok {
		c.index[key] = len(c.pkgs)
		c.pkgs = append(c.pkgs, p)
		return
	}
	old := &c.pkgs[i]
	merged, err := mergeSRI(old.Integrity, p.Integrity)
	if err != nil {
		c.fail(where, fmt.Errorf("%w: %s: %v", errBadLockEntry, key, err))
		return
	}
	old.Integrity = merged
	if old.Resolved == "" {
		old.Resolved = p.Resolved
	}
}

func (c *collector) result() ([]LockedPackage, []error) {
	sort.SliceStable(c.pkgs, func(i, j int) bool {
		a, b := c.pkgs[i], c.pkgs[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return compareVersions(a.Version, b.Version) < 0
	})
	return c.pkgs, c.errs
}

// isExactVersion accepts a semver version (https://semver.org), nothing
// that could be a range, a tag or a path.
func isExactVersion(v string) bool {
	if !validVersionOrTag(v) || strings.HasPrefix(v, "v") {
		return false
	}
	_, ok := parseSemver(v)
	return ok
}

// checkSRI accepts "" or whitespace-separated "algo-base64" tokens (W3C SRI;
// options after "?" allowed).
func checkSRI(sri string) error {
	for _, tok := range strings.Fields(sri) {
		algo, b64, ok := strings.Cut(tok, "-")
		b64, _, _ = strings.Cut(b64, "?")
		if !ok || algo == "" || b64 == "" {
			return fmt.Errorf("malformed integrity %q", tok)
		}
		if _, err := base64.StdEncoding.DecodeString(b64); err != nil {
			return fmt.Errorf("malformed integrity %q: %v", tok, err)
		}
	}
	return nil
}

// mergeSRI combines two declarations of one package's digests. Different
// algorithms add up; one algorithm with two different digests is a
// contradiction in the lockfile.
func mergeSRI(a, b string) (string, error) {
	have := map[string]string{}
	for _, tok := range strings.Fields(a) {
		algo, _, _ := strings.Cut(tok, "-")
		have[algo] = tok
	}
	out := a
	for _, tok := range strings.Fields(b) {
		algo, _, _ := strings.Cut(tok, "-")
		switch prev, ok := have[algo]; {
		case !ok:
			have[algo] = tok
			out = string(registries.Integrity(out).Join(registries.Integrity(tok)))
		case prev != tok:
			return "", fmt.Errorf("conflicting integrity %s and %s", prev, tok)
		}
	}
	return out, nil
}

// splitNameAt splits "name@rest" or "@scope/name@rest" at the "@" after the
// name.
func splitNameAt(s string) (name, rest string, ok bool) {
	from := 0
	if strings.HasPrefix(s, "@") {
		from = 1
	}
	i := strings.IndexByte(s[from:], '@')
	if i < 0 {
		return s, "", false
	}
	return s[:from+i], s[from+i+1:], true
}

// sourceKind says where a dependency specifier or resolved URL points.
type sourceKind int

const (
	sourceRegistry sourceKind = iota
	sourceLocal               // workspace, link, portal, file: nothing to fetch
	sourceRemote              // git, a tarball URL: not a registry's
)

// classifySpec reads what a lockfile records instead of a registry version
// ("file:../x", "git+ssh://...", "github:u/r#sha", "https://host/x.tgz").
// Anything else is taken for a registry version and validated as one later.
func classifySpec(spec string) sourceKind {
	s := strings.ToLower(spec)
	for _, p := range []string{"file:", "link:", "portal:", "workspace:"} {
		if strings.HasPrefix(s, p) {
			return sourceLocal
		}
	}
	for _, p := range []string{"git+", "git:", "git@", "github:", "gitlab:", "bitbucket:", "gist:", "http:", "https:", "exec:"} {
		if strings.HasPrefix(s, p) {
			return sourceRemote
		}
	}
	if strings.Contains(s, "://") {
		return sourceRemote
	}
	return sourceRegistry
}

// classifyResolved reads a lockfile's resolved URL: registry tarballs are
// http(s); git and local paths are not.
func classifyResolved(resolved string) sourceKind {
	s := strings.ToLower(resolved)
	switch {
	case s == "", strings.HasPrefix(s, "https:"), strings.HasPrefix(s, "http:"):
		return sourceRegistry
	case classifySpec(s) == sourceLocal:
		return sourceLocal
	}
	return sourceRemote
}

// ---- package-lock.json, npm-shrinkwrap.json --------------------------------

type packageLock struct {
	LockfileVersion *int                       `json:"lockfileVersion"`
	Packages        map[string]json.RawMessage `json:"packages"`
	Dependencies    map[string]json.RawMessage `json:"dependencies"`
}

// packageLockEntry is an entry of "packages" (lockfileVersion 2 and 3).
type packageLockEntry struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Resolved  string `json:"resolved"`
	Integrity string `json:"integrity"`
	Link      bool   `json:"link"`
	InBundle  bool   `json:"inBundle"`
}

// packageLockDep is an entry of "dependencies" (lockfileVersion 1, also
// written by 2 for old npm).
type packageLockDep struct {
	Version      string                     `json:"version"`
	Resolved     string                     `json:"resolved"`
	Integrity    string                     `json:"integrity"`
	Bundled      bool                       `json:"bundled"`
	Dependencies map[string]json.RawMessage `json:"dependencies"`
}

func (c *collector) packageLock(data []byte) error {
	var lock packageLock
	if err := json.Unmarshal(data, &lock); err != nil {
		return fmt.Errorf("not a package-lock.json: %w", err)
	}
	if lock.LockfileVersion == nil {
		return errors.New("not a package-lock.json: no lockfileVersion")
	}
	// Version 2 carries both forms; "packages" is the complete one.
	if lock.Packages != nil && *lock.LockfileVersion >= 2 {
		for _, key := range sortedKeys(lock.Packages) {
			c.packageLockEntry(key, lock.Packages[key])
		}
		return nil
	}
	c.packageLockDeps("", lock.Dependencies)
	return nil
}

func (c *collector) packageLockEntry(key string, raw json.RawMessage) {
	i := strings.LastIndex(key, "node_modules/")
	if key == "" || i < 0 {
		return // the root project, or a workspace's own folder
	}
	where := fmt.Sprintf("packages[%q]", lockClip(key))
	var e packageLockEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		c.fail(where, fmt.Errorf("%w: %v", errBadLockEntry, err))
		return
	}
	if e.Link || e.InBundle || e.Version == "" {
		return // a symlink to a workspace; inside its parent's tarball; nothing pinned
	}
	name := e.Name
	if name == "" {
		name = key[i+len("node_modules/"):]
	}
	switch classifyResolved(e.Resolved) {
	case sourceLocal:
		return
	case sourceRemote:
		c.fail(where, fmt.Errorf("%s %s: %w", name, e.Resolved, ErrNotFromRegistry))
		return
	}
	c.add(where, LockedPackage{Name: name, Version: e.Version, Integrity: e.Integrity, Resolved: e.Resolved})
}

// packageLockDeps reads lockfileVersion 1's tree; parent names the entry
// the dependencies nest in ("" at the top), for errors.
func (c *collector) packageLockDeps(parent string, deps map[string]json.RawMessage) {
	for _, name := range sortedKeys(deps) {
		where := fmt.Sprintf("dependencies[%q]", lockClip(name))
		if parent != "" {
			where = fmt.Sprintf("dependencies[%q].%s", lockClip(parent), where)
		}
		var d packageLockDep
		if err := json.Unmarshal(deps[name], &d); err != nil {
			c.fail(where, fmt.Errorf("%w: %v", errBadLockEntry, err))
			continue
		}
		c.packageLockDep(where, name, d)
		c.packageLockDeps(name, d.Dependencies)
	}
}

func (c *collector) packageLockDep(where, name string, d packageLockDep) {
	if d.Bundled || d.Version == "" {
		return
	}
	version := d.Version
	if alias, ok := strings.CutPrefix(version, "npm:"); ok { // "npm:real@1.2.3"
		real, v, ok := splitNameAt(alias)
		if !ok {
			c.fail(where, fmt.Errorf("%w: alias %q has no version", errBadLockEntry, d.Version))
			return
		}
		name, version = real, v
	}
	kind := classifySpec(version)
	if kind == sourceRegistry {
		kind = classifyResolved(d.Resolved)
	}
	switch kind {
	case sourceLocal:
		return
	case sourceRemote:
		c.fail(where, fmt.Errorf("%s %s: %w", name, d.Version, ErrNotFromRegistry))
		return
	}
	c.add(where, LockedPackage{Name: name, Version: version, Integrity: d.Integrity, Resolved: d.Resolved})
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ---- yarn.lock, classic ---------------------------------------------------

// yarnClassicEntry is one block of a classic yarn.lock.
type yarnClassicEntry struct {
	line      int
	patterns  []string // "lodash@^4.17.0", "@s/p@npm:other@^1"
	version   string
	resolved  string
	integrity string
}

// yarnClassic reads @yarnpkg/lockfile's format: unindented keys ending in
// ":" (several patterns separated by ", ", each quoted when it needs to be),
// then fields indented by two spaces, `name value`, and nested blocks
// (dependencies) indented further.
func (c *collector) yarnClassic(data []byte) error {
	var entries []*yarnClassicEntry
	var cur *yarnClassicEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t\r")
		trimmed := strings.TrimLeft(line, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(line) - len(trimmed)
		switch {
		case indent == 0:
			if !strings.HasSuffix(line, ":") {
				return fmt.Errorf("line %d: expected an entry such as `name@range:`, got %q", n, lockClip(line))
			}
			patterns, err := splitYarnPatterns(strings.TrimSuffix(line, ":"))
			if err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			cur = &yarnClassicEntry{line: n, patterns: patterns}
			entries = append(entries, cur)
		case cur == nil:
			return fmt.Errorf("line %d: indented line outside an entry", n)
		case indent == 2 && !strings.HasSuffix(trimmed, ":"):
			key, value, _ := strings.Cut(trimmed, " ")
			key = strings.TrimSuffix(key, ":")
			value, err := yarnUnquote(strings.TrimSpace(value))
			if err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			switch key {
			case "version":
				cur.version = value
			case "resolved":
				cur.resolved = value
			case "integrity":
				cur.integrity = value
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, e := range entries {
		c.yarnClassicEntry(e)
	}
	return nil
}

func (c *collector) yarnClassicEntry(e *yarnClassicEntry) {
	where := fmt.Sprintf("line %d", e.line)
	if len(e.patterns) == 0 || e.version == "" {
		c.fail(where, fmt.Errorf("%w: no pattern or no version", errBadLockEntry))
		return
	}
	name, spec, _ := splitNameAt(e.patterns[0])
	if alias, ok := strings.CutPrefix(spec, "npm:"); ok {
		if real, rest, ok := splitNameAt(alias); ok {
			name, spec = real, rest
		}
	}
	kind := classifySpec(spec)
	if kind == sourceRegistry && looksLikeHostedGit(spec) {
		kind = sourceRemote
	}
	if kind == sourceRegistry {
		kind = classifyResolved(e.resolved)
	}
	switch kind {
	case sourceLocal:
		return
	case sourceRemote:
		c.fail(where, fmt.Errorf("%s: %w", lockClip(e.patterns[0]), ErrNotFromRegistry))
		return
	}
	integrity := e.integrity
	if integrity == "" {
		if _, frag, ok := strings.Cut(e.resolved, "#"); ok && len(frag) == 40 {
			integrity = string(registries.SRIFromHex("sha1", frag))
		}
	}
	c.add(where, LockedPackage{Name: name, Version: e.version, Integrity: integrity, Resolved: e.resolved})
}

// looksLikeHostedGit recognises the "user/repo" and "user/repo#ref"
// shorthand for GitHub, which no semver range contains.
func looksLikeHostedGit(spec string) bool {
	return strings.Contains(spec, "/") && !strings.ContainsAny(spec, " <>=")
}

// splitYarnPatterns splits `"a@^1", a@^2` at commas outside quotes and
// unquotes each pattern.
func splitYarnPatterns(key string) ([]string, error) {
	var out []string
	for len(key) > 0 {
		key = strings.TrimLeft(key, " ")
		var tok string
		if strings.HasPrefix(key, `"`) {
			end := closingQuote(key)
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote in %q", lockClip(key))
			}
			tok, key = key[:end+1], key[end+1:]
		} else {
			i := strings.IndexByte(key, ',')
			if i < 0 {
				i = len(key)
			}
			tok, key = key[:i], key[i:]
		}
		p, err := yarnUnquote(strings.TrimSpace(tok))
		if err != nil {
			return nil, err
		}
		if p != "" {
			out = append(out, p)
		}
		key = strings.TrimLeft(key, " ")
		if key != "" && !strings.HasPrefix(key, ",") {
			return nil, fmt.Errorf("expected `,` in %q", lockClip(key))
		}
		key = strings.TrimPrefix(key, ",")
	}
	return out, nil
}

// closingQuote is the index of the quote that closes s[0], or -1.
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// yarnUnquote reads a value as yarn writes it: bare, or a JSON string.
func yarnUnquote(s string) (string, error) {
	if !strings.HasPrefix(s, `"`) {
		return s, nil
	}
	var v string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return "", fmt.Errorf("bad quoted string %s", lockClip(s))
	}
	return v, nil
}

func lockClip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// ---- yarn.lock, berry -----------------------------------------------------

type berryEntry struct {
	Resolution string `yaml:"resolution"`
	// Checksum is berry's hash of its own zip archive of the package, not
	// of the registry's tarball: it cannot check what warm downloads.
	Checksum string `yaml:"checksum"`
}

func (c *collector) yarnBerry(data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("not a yarn berry lockfile: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return errors.New("not a yarn berry lockfile: not a YAML mapping")
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, val := m.Content[i], m.Content[i+1]
		if key.Value == "__metadata" {
			continue
		}
		where := fmt.Sprintf("line %d", key.Line)
		var e berryEntry
		if err := val.Decode(&e); err != nil {
			c.fail(where, fmt.Errorf("%w: %v", errBadLockEntry, err))
			continue
		}
		if e.Resolution == "" {
			c.fail(where, fmt.Errorf("%w: %q has no resolution", errBadLockEntry, lockClip(key.Value)))
			continue
		}
		c.berryResolution(where, e.Resolution, 0)
	}
	return nil
}

// berryResolution reads "name@npm:1.2.3" and the protocols around it:
// "npm:1.2.3::__archiveUrl=..." (a tarball at an unconventional URL),
// "virtual:<hash>#npm:1.2.3" (a peer-dependent instance),
// "patch:name@npm%3A1.2.3#./patch" (a patched npm package: its source is
// warmed), and the local and remote protocols, which are not from npm.
func (c *collector) berryResolution(where, resolution string, depth int) {
	name, ref, ok := splitNameAt(resolution)
	if !ok {
		c.fail(where, fmt.Errorf("%w: resolution %q has no reference", errBadLockEntry, lockClip(resolution)))
		return
	}
	protocol, rest, _ := strings.Cut(ref, ":")
	switch protocol {
	case "npm":
		v, _, _ := strings.Cut(rest, "::")
		c.add(where, LockedPackage{Name: name, Version: v})
	case "virtual":
		_, inner, ok := strings.Cut(rest, "#")
		if !ok || depth > 2 {
			c.fail(where, fmt.Errorf("%w: resolution %q", errBadLockEntry, lockClip(resolution)))
			return
		}
		c.berryResolution(where, name+"@"+inner, depth+1)
	case "patch":
		source, _, _ := strings.Cut(rest, "#")
		source, err := url.PathUnescape(source)
		if err != nil || depth > 2 {
			c.fail(where, fmt.Errorf("%w: resolution %q", errBadLockEntry, lockClip(resolution)))
			return
		}
		c.berryResolution(where, source, depth+1)
	case "workspace", "link", "portal", "file":
		// Local: nothing to fetch.
	default:
		c.fail(where, fmt.Errorf("%s: %w", lockClip(resolution), ErrNotFromRegistry))
	}
}

// ---- pnpm-lock.yaml -------------------------------------------------------

type pnpmLock struct {
	LockfileVersion string               `yaml:"lockfileVersion"`
	Packages        map[string]yaml.Node `yaml:"packages"`
}

type pnpmPackage struct {
	Name       string `yaml:"name"`
	Version    string `yaml:"version"`
	Resolution struct {
		Integrity string `yaml:"integrity"`
		Tarball   string `yaml:"tarball"`
		Type      string `yaml:"type"` // "git", "directory"
		Directory string `yaml:"directory"`
		Repo      string `yaml:"repo"`
	} `yaml:"resolution"`
}

// pnpm reads every YAML document of the file (pnpm 10 may put its own
// environment's lockfile first, separated by ---).
func (c *collector) pnpm(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	found := false
	for {
		var lock pnpmLock
		err := dec.Decode(&lock)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("not a pnpm lockfile: %w", err)
		}
		if lock.LockfileVersion == "" {
			continue
		}
		major, err := strconv.Atoi(strings.SplitN(lock.LockfileVersion, ".", 2)[0])
		if err != nil {
			return fmt.Errorf("pnpm lockfileVersion %q", lock.LockfileVersion)
		}
		found = true
		for _, key := range sortedKeys(lock.Packages) {
			node := lock.Packages[key]
			c.pnpmPackage(major, key, &node)
		}
	}
	if !found {
		return errors.New("not a pnpm lockfile: no lockfileVersion")
	}
	return nil
}

func (c *collector) pnpmPackage(major int, key string, node *yaml.Node) {
	where := fmt.Sprintf("packages[%q]", lockClip(key))
	var p pnpmPackage
	if err := node.Decode(&p); err != nil {
		c.fail(where, fmt.Errorf("%w: %v", errBadLockEntry, err))
		return
	}
	r := p.Resolution
	switch {
	case r.Type == "directory" || r.Directory != "":
		return
	case r.Type == "git" || r.Repo != "":
		c.fail(where, fmt.Errorf("%s: %w", lockClip(key), ErrNotFromRegistry))
		return
	}
	name, version, ok := pnpmKey(major, key)
	if p.Name != "" && p.Version != "" {
		// Written for what the key cannot say (aliases, tarballs).
		name, version, ok = p.Name, p.Version, true
	}
	if !ok {
		c.fail(where, fmt.Errorf("%w: cannot read a name and version from the key", errBadLockEntry))
		return
	}
	switch kind := classifySpec(version); {
	case kind == sourceLocal:
		return
	case kind == sourceRemote, r.Tarball != "" && r.Integrity == "" && classifyResolved(r.Tarball) != sourceLocal:
		// A tarball without integrity is a remote tarball, not a
		// registry's (pnpm records a registry's unconventional tarball
		// URLs with their integrity).
		c.fail(where, fmt.Errorf("%s: %w", lockClip(key), ErrNotFromRegistry))
		return
	case r.Tarball != "" && classifyResolved(r.Tarball) == sourceLocal:
		return
	}
	c.add(where, LockedPackage{Name: name, Version: version, Integrity: r.Integrity, Resolved: r.Tarball})
}

// pnpmKey reads a package's key: "/name/1.2.3" and "/@s/n/1.2.3_peer@1.0.0"
// (lockfileVersion 5), "/name@1.2.3(peer@1.0.0)" (6), "name@1.2.3" and
// "@s/n@1.2.3(peer@1.0.0)" (9).
func pnpmKey(major int, key string) (name, version string, ok bool) {
	if major < 6 {
		rest, ok := strings.CutPrefix(key, "/")
		if !ok {
			return "", "", false
		}
		n := 1
		if strings.HasPrefix(rest, "@") {
			n = 2
		}
		parts := strings.SplitN(rest, "/", n+1)
		if len(parts) != n+1 {
			return "", "", false
		}
		version, _, _ = strings.Cut(parts[n], "_")
		return strings.Join(parts[:n], "/"), version, true
	}
	key = strings.TrimPrefix(key, "/")
	if i := strings.IndexByte(key, '('); i >= 0 {
		key = key[:i]
	}
	return splitNameAt(key)
}
