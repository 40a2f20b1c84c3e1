package pypi

// Lockfile readers for `larder warm`: the exact releases a requirements file
// pins, and the files a pylock.toml names, with the hashes they record.
//
// requirements.txt follows pip's own reader (pip/_internal/req/req_file.py,
// https://pip.pypa.io/en/stable/reference/requirements-file-format/):
// backslash continuations are joined first, then comments ("#" at the start
// or after whitespace) are removed, then a line is a requirement (PEP 508)
// followed by per-requirement options, or a line of options alone.
//
// pylock.toml is PEP 751
// (https://packaging.python.org/en/latest/specifications/pylock-toml/).
//
// Both are input from outside: project names pass ValidateName, versions
// and file names are checked before they can become part of a path.

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/larder-mirror/larder/registries"
)

// LockedFile is a release (requirements.txt) or one file of it
// (pylock.toml) that a lockfile pins.
type LockedFile struct {
	Project string // normalized (PEP 503)
	Version string // the exact pin as written ("==" or "===")
	// Filename is the distribution file for pylock.toml entries; "" for
	// requirements.txt, which pins a release, not a file.
	Filename string
	// Hashes are "algorithm:hex" ("sha256:..."), lower case, sorted. For
	// requirements.txt they are pip's --hash values: a file of the release
	// is good if it matches any one of them. For pylock.toml they are the
	// digests of Filename. Empty when the lockfile gives none.
	Hashes []string
	URL    string // pylock's url if any (informational)
}

// ErrNotPinned marks a requirement without an exact "==" or "===" version:
// warm cannot tell which release to fetch.
var ErrNotPinned = errors.New("not pinned: cannot warm")

// ErrUnsupported marks what a lockfile may name but an index does not serve
// (direct URLs, VCS checkouts, editable and local paths, remote archives),
// or a syntax larder does not read (requirement files by URL).
var ErrUnsupported = errors.New("not supported: cannot warm")

// errBadRequirement marks a line or an entry that could not be read.
var errBadRequirement = errors.New("invalid requirement")

const (
	maxLockfileSize     = 64 << 20
	maxRequirementDepth = 10  // -r nesting, as deep as anyone needs
	maxRequirementFiles = 256 // files read in all: nested includes can fan out
)

// ReadPythonLockfile picks the reader by the file's name: "pylock.toml" and
// "pylock.<name>.toml" (PEP 751) are pylock files, anything else a
// requirements file.
func ReadPythonLockfile(path string) ([]LockedFile, []error, error) {
	base := filepath.Base(path)
	if base == "pylock.toml" || strings.HasPrefix(base, "pylock.") && strings.HasSuffix(base, ".toml") {
		return ReadPylock(path)
	}
	return ReadRequirements(path)
}

// readLockInput reads a lockfile or a file it includes.
func readLockInput(path string) ([]byte, error) {
	return registries.ReadLocalFile(path, maxLockfileSize)
}

// ---- requirements.txt -----------------------------------------------------

// ReadRequirements reads a requirements file and the files it includes with
// -r, relative to the including file; see ParseRequirements.
func ReadRequirements(path string) ([]LockedFile, []error, error) {
	data, err := registries.ReadLocalFile(path, maxLockfileSize)
	if err != nil {
		return nil, nil, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, err
	}
	r := newReqReader(readLockInput)
	if err := r.file(path, abs, data, 0); err != nil {
		return nil, nil, err
	}
	files, errs := r.result()
	return files, errs, nil
}

// ParseRequirements reads a requirements file's bytes. Includes (-r FILE,
// --requirement FILE) are resolved against baseDir and read with open; a
// nil open reports them instead. Requirements that are not exact pins,
// direct URLs, editables, unreadable includes, include cycles, includes
// nested deeper than 10 and more than 256 files in all are reported in the
// []error list; the error is for data that is not text.
func ParseRequirements(data []byte, baseDir string, open func(path string) ([]byte, error)) ([]LockedFile, []error, error) {
	r := newReqReader(open)
	if err := r.file("requirements", filepath.Join(baseDir, "requirements"), data, 0); err != nil {
		return nil, nil, err
	}
	files, errs := r.result()
	return files, errs, nil
}

type reqReader struct {
	open    func(string) ([]byte, error)
	reading map[string]bool // files being read: an include of one is a cycle
	done    map[string]bool // files read: included again, they add nothing
	files   []LockedFile
	index   map[string]int // "project==version" → index in files
	errs    []error
}

func newReqReader(open func(string) ([]byte, error)) *reqReader {
	return &reqReader{open: open, reading: map[string]bool{}, done: map[string]bool{}, index: map[string]int{}}
}

func (r *reqReader) fail(where string, err error) {
	r.errs = append(r.errs, fmt.Errorf("%s: %w", where, err))
}

func (r *reqReader) result() ([]LockedFile, []error) { return r.files, r.errs }

// file reads one requirements file; name is for messages, path the file's
// cleaned location (includes resolve against its folder).
func (r *reqReader) file(name, path string, data []byte, depth int) error {
	if bytes.IndexByte(data, 0) >= 0 {
		return fmt.Errorf("%s: not a text file", name)
	}
	r.reading[path] = true
	defer delete(r.reading, path)
	r.done[path] = true
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	for _, l := range reqJoinLines(data) {
		r.line(fmt.Sprintf("%s:%d", name, l.n), filepath.Dir(path), l.text, depth)
	}
	return nil
}

type reqLine struct {
	n    int // the first physical line
	text string
}

// reqComment is pip's COMMENT_RE: "#" at the start of a line or after
// whitespace, to the end. A "#" inside a word (a URL's fragment) stays.
var reqComment = regexp.MustCompile(`(^|\s+)#.*$`)

// reqJoinLines is pip's join_lines: a line ending in a backslash continues on
// the next, unless it is a comment; a comment line ends a continuation.
func reqJoinLines(data []byte) []reqLine {
	var out []reqLine
	var cur []string
	first := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), maxLockfileSize)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		isComment := strings.HasPrefix(strings.TrimLeft(line, " \t"), "#")
		if isComment {
			line = " " + line // so that it goes when it ends a continuation
		}
		if !strings.HasSuffix(line, `\`) || isComment {
			if cur != nil {
				out = append(out, reqLine{first, strings.Join(append(cur, line), "")})
				cur = nil
			} else {
				out = append(out, reqLine{n, line})
			}
			continue
		}
		if cur == nil {
			first = n
		}
		cur = append(cur, strings.TrimSuffix(line, `\`))
	}
	if cur != nil {
		out = append(out, reqLine{first, strings.Join(cur, "")})
	}
	return out
}

// line reads one logical line.
func (r *reqReader) line(where, dir, text string, depth int) {
	text = strings.TrimSpace(reqComment.ReplaceAllString(text, ""))
	if text == "" {
		return
	}
	args, opts := reqSplitArgsOptions(text)
	if args == "" {
		r.optionLine(where, dir, opts, depth)
		return
	}
	hashes, err := reqOptions(opts)
	if err != nil {
		r.fail(where, fmt.Errorf("%w: %s: %v", errBadRequirement, lockClip(args), err))
		return
	}
	project, version, err := reqParsePin(args)
	if err != nil {
		r.fail(where, err)
		return
	}
	r.add(LockedFile{Project: project, Version: version, Hashes: hashes})
}

// reqSplitArgsOptions is pip's break_args_options: the words before the first
// one that starts with "-" are the requirement, the rest are options.
func reqSplitArgsOptions(text string) (args string, opts []string) {
	fields := strings.Fields(text)
	for i, f := range fields {
		if strings.HasPrefix(f, "-") {
			// Keep the requirement's own spacing ("name == 1.0 ; marker").
			rest := text
			for _, g := range fields[:i] {
				rest = rest[strings.Index(rest, g)+len(g):]
			}
			return strings.TrimSpace(text[:len(text)-len(rest)]), fields[i:]
		}
	}
	return text, nil
}

// optionLine handles a line of options alone: includes, and the options
// that change where pip looks, which warm does not need.
func (r *reqReader) optionLine(where, dir string, opts []string, depth int) {
	name, value, hasValue := reqOptionValue(opts)
	switch name {
	case "-r", "--requirement":
		if !hasValue {
			r.fail(where, fmt.Errorf("%w: %s needs a file", errBadRequirement, name))
			return
		}
		r.include(where, dir, value, depth)
	case "--hash":
		// pip ignores it; it is most often a comment line that ended a
		// continuation early, leaving the requirement above unhashed.
		r.fail(where, fmt.Errorf("%w: --hash without a requirement (a comment inside a continuation?)", errBadRequirement))
	case "-e", "--editable":
		r.fail(where, fmt.Errorf("editable %s: %w", lockClip(value), ErrUnsupported))
	case "-c", "--constraint", "-i", "--index-url", "--extra-index-url", "--no-index",
		"-f", "--find-links", "--trusted-host", "--pre", "--prefer-binary",
		"--only-binary", "--no-binary", "--require-hashes", "--use-feature":
		// Constraints pin nothing by themselves; the rest say where and how
		// pip fetches, which is larder's business during warm.
	default:
		r.fail(where, fmt.Errorf("%w: unknown option %s", errBadRequirement, lockClip(name)))
	}
}

// reqOptionValue reads the first option of a line and its value, in each of
// the forms optparse accepts: "-r file", "-rfile", "--requirement file",
// "--requirement=file".
func reqOptionValue(opts []string) (name, value string, ok bool) {
	first := opts[0]
	switch {
	case strings.HasPrefix(first, "--"):
		if n, v, found := strings.Cut(first, "="); found {
			return n, v, true
		}
	case len(first) > 2: // "-rfile"
		return first[:2], first[2:], true
	}
	if len(opts) > 1 {
		return first, opts[1], true
	}
	return first, "", false
}

func (r *reqReader) include(where, dir, target string, depth int) {
	if strings.Contains(target, "://") {
		r.fail(where, fmt.Errorf("requirements by URL %s: %w", lockClip(target), ErrUnsupported))
		return
	}
	if r.open == nil {
		r.fail(where, fmt.Errorf("include %s: %w", lockClip(target), ErrUnsupported))
		return
	}
	if depth+1 > maxRequirementDepth {
		r.fail(where, fmt.Errorf("%w: include %s: nested deeper than %d", errBadRequirement, lockClip(target), maxRequirementDepth))
		return
	}
	p := target
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	p = filepath.Clean(p)
	switch {
	case r.reading[p]:
		r.fail(where, fmt.Errorf("%w: include cycle: %s includes itself", errBadRequirement, lockClip(target)))
		return
	case r.done[p]:
		return // already read; its requirements are in
	case len(r.done) >= maxRequirementFiles:
		r.fail(where, fmt.Errorf("%w: include %s: more than %d files in all", errBadRequirement, lockClip(target), maxRequirementFiles))
		return
	}
	data, err := r.open(p)
	if err != nil {
		r.fail(where, fmt.Errorf("include %s: %w", lockClip(target), err))
		return
	}
	if err := r.file(p, p, data, depth+1); err != nil {
		r.fail(where, err)
	}
}

// reqOptions reads the options after a requirement: --hash (pip
// allows sha256, sha384 and sha512), and the build options that do not
// matter to warm.
func reqOptions(opts []string) ([]string, error) {
	var hashes []string
	for i := 0; i < len(opts); i++ {
		name, value, hasValue := opts[i], "", false
		if n, v, ok := strings.Cut(name, "="); ok && strings.HasPrefix(name, "--") {
			name, value, hasValue = n, v, true
		}
		switch name {
		case "--hash", "--global-option", "--install-option", "--config-settings", "-C":
			if !hasValue {
				if i+1 >= len(opts) {
					return nil, fmt.Errorf("%s needs a value", name)
				}
				i++
				value = opts[i]
			}
			if name != "--hash" {
				continue
			}
			h, err := reqNormalizeHash(value)
			if err != nil {
				return nil, err
			}
			hashes = append(hashes, h)
		default:
			return nil, fmt.Errorf("unknown option %s", lockClip(name))
		}
	}
	return hashes, nil
}

var reqHashLengths = map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}

// reqNormalizeHash checks "algorithm:hex" and lower-cases it.
func reqNormalizeHash(h string) (string, error) {
	algo, sum, ok := strings.Cut(h, ":")
	algo, sum = strings.ToLower(algo), strings.ToLower(sum)
	n, known := reqHashLengths[algo]
	if !ok || !known {
		return "", fmt.Errorf("hash %q: want sha256:, sha384: or sha512: and hex", lockClip(h))
	}
	if _, err := hex.DecodeString(sum); err != nil || len(sum) != n {
		return "", fmt.Errorf("hash %q: not %d hex digits", lockClip(h), n)
	}
	return algo + ":" + sum, nil
}

// reqName is a PEP 508 name at the start of a requirement.
var reqName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*`)

// reqParsePin reads a PEP 508 requirement that pins one version:
// "name[extras] == 1.2.3 ; marker", "name (===1.2.3)". Extras and markers
// do not change which release is fetched.
func reqParsePin(req string) (project, version string, err error) {
	name := reqName.FindString(req)
	if name == "" || reqLooksLikeLocation(req) {
		return "", "", fmt.Errorf("%s: %w", lockClip(req), ErrUnsupported)
	}
	if err := ValidateName(name); err != nil {
		return "", "", err
	}
	rest := strings.TrimSpace(req[len(name):])
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return "", "", fmt.Errorf("%w: %s: unclosed extras", errBadRequirement, lockClip(req))
		}
		rest = strings.TrimSpace(rest[end+1:])
	}
	if strings.HasPrefix(rest, "@") {
		return "", "", fmt.Errorf("direct URL %s: %w", lockClip(req), ErrUnsupported)
	}
	spec, _, _ := strings.Cut(rest, ";")
	spec = strings.TrimSpace(spec)
	if strings.HasPrefix(spec, "(") && strings.HasSuffix(spec, ")") {
		spec = strings.TrimSpace(spec[1 : len(spec)-1])
	}
	var pins []string
	for _, clause := range strings.Split(spec, ",") {
		clause = strings.TrimSpace(clause)
		switch {
		case strings.HasPrefix(clause, "==="):
			v := strings.TrimSpace(clause[3:])
			if !validVersion(v) {
				return "", "", fmt.Errorf("%w: %s: version %q", errBadRequirement, lockClip(req), lockClip(v))
			}
			pins = append(pins, v)
		case strings.HasPrefix(clause, "=="):
			v := strings.TrimSpace(clause[2:])
			if strings.HasSuffix(v, ".*") {
				continue // a prefix match pins nothing
			}
			if _, ok := parsePyVersion(v); !ok || !validVersion(v) {
				return "", "", fmt.Errorf("%w: %s: version %q", errBadRequirement, lockClip(req), lockClip(v))
			}
			pins = append(pins, v)
		case clause == "", strings.ContainsAny(clause[:1], "<>!~"):
		default:
			return "", "", fmt.Errorf("%w: %s: cannot read %q", errBadRequirement, lockClip(req), lockClip(clause))
		}
	}
	switch {
	case len(pins) == 0:
		return "", "", fmt.Errorf("%s: %w", lockClip(req), ErrNotPinned)
	case len(pins) > 1 && compareVersions(pins[0], pins[1]) != 0:
		return "", "", fmt.Errorf("%w: %s: two pins", errBadRequirement, lockClip(req))
	}
	return Normalize(name), pins[0], nil
}

// reqLooksLikeLocation recognises what pip takes for a path or URL instead of
// a name: "./pkg", "https://...", "git+https://...", "pkg-1.0-py3-none-any.whl".
func reqLooksLikeLocation(req string) bool {
	word, _, _ := strings.Cut(req, " ")
	word, _, _ = strings.Cut(word, ";")
	if strings.Contains(word, "://") || strings.ContainsAny(word, `/\`) {
		return true
	}
	for _, ext := range []string{".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz"} {
		if strings.HasSuffix(strings.ToLower(word), ext) {
			return true
		}
	}
	return false
}

// add keeps one entry per (project, version), with the union of the hashes.
func (r *reqReader) add(f LockedFile) {
	key := f.Project + "==" + f.Version
	i, ok := r.index[key]
	if !ok {
		r.index[key] = len(r.files)
		f.Hashes = lockSortedUnique(f.Hashes)
		r.files = append(r.files, f)
		return
	}
	r.files[i].Hashes = lockSortedUnique(append(r.files[i].Hashes, f.Hashes...))
}

func lockSortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	s = append([]string(nil), s...)
	sort.Strings(s)
	out := s[:1]
	for _, x := range s[1:] {
		if x != out[len(out)-1] {
			out = append(out, x)
		}
	}
	return out
}

func lockClip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// ---- pylock.toml ----------------------------------------------------------

type pylock struct {
	LockVersion string           `toml:"lock-version"`
	Packages    []toml.Primitive `toml:"packages"`
}

type pylockPackage struct {
	Name      string         `toml:"name"`
	Version   string         `toml:"version"`
	VCS       map[string]any `toml:"vcs"`
	Directory map[string]any `toml:"directory"`
	Archive   *pylockFile    `toml:"archive"`
	Sdist     *pylockFile    `toml:"sdist"`
	Wheels    []pylockFile   `toml:"wheels"`
}

type pylockFile struct {
	Name   string            `toml:"name"`
	URL    string            `toml:"url"`
	Path   string            `toml:"path"`
	Hashes map[string]string `toml:"hashes"`
}

// ReadPylock reads a PEP 751 lock file; see ParsePylock.
func ReadPylock(path string) ([]LockedFile, []error, error) {
	data, err := registries.ReadLocalFile(path, maxLockfileSize)
	if err != nil {
		return nil, nil, err
	}
	files, errs, err := ParsePylock(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return files, errs, nil
}

// ParsePylock reads a PEP 751 lock file: one LockedFile for each wheel and
// sdist of each [[packages]] entry. Entries from VCS, remote archives and
// local paths cannot come from an index and are reported; so is an entry
// that is not valid. The error is for a file that is not TOML or whose
// lock-version is not 1.x (PEP 751: a tool must refuse a major version it
// does not know).
func ParsePylock(data []byte) ([]LockedFile, []error, error) {
	var lock pylock
	md, err := toml.Decode(string(data), &lock)
	if err != nil {
		return nil, nil, fmt.Errorf("not a pylock.toml: %w", err)
	}
	major, _, _ := strings.Cut(lock.LockVersion, ".")
	if major != "1" {
		return nil, nil, fmt.Errorf("pylock.toml lock-version %q: larder reads 1.x", lockClip(lock.LockVersion))
	}
	var files []LockedFile
	var errs []error
	seen := map[string]bool{}
	for i, prim := range lock.Packages {
		var p pylockPackage
		where := fmt.Sprintf("packages[%d]", i)
		if err := md.PrimitiveDecode(prim, &p); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w: %v", where, errBadRequirement, err))
			continue
		}
		if p.Name != "" {
			where = fmt.Sprintf("packages[%d] (%s)", i, lockClip(p.Name))
		}
		got, err := pylockFiles(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		for _, f := range got {
			if key := f.Project + "/" + f.Filename; !seen[key] {
				seen[key] = true
				files = append(files, f)
			}
		}
	}
	return files, errs, nil
}

// pylockFiles reads one package; it returns the files it could read and the
// errors of the others.
func pylockFiles(p pylockPackage) ([]LockedFile, error) {
	if err := ValidateName(p.Name); err != nil {
		return nil, err
	}
	project := Normalize(p.Name)
	switch {
	case p.VCS != nil:
		return nil, fmt.Errorf("a VCS checkout: %w", ErrUnsupported)
	case p.Archive != nil && p.Archive.URL != "":
		return nil, fmt.Errorf("an archive at %s: %w", lockClip(p.Archive.URL), ErrUnsupported)
	case p.Directory != nil, p.Archive != nil:
		return nil, nil // a local source: nothing to fetch
	case p.Sdist == nil && len(p.Wheels) == 0:
		return nil, fmt.Errorf("%w: no wheels and no sdist", errBadRequirement)
	}
	var out []LockedFile
	var errs []error
	for _, f := range append(append([]pylockFile(nil), p.Wheels...), pylockSdists(p.Sdist)...) {
		lf, err := pylockFileOf(project, p.Version, f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, lf)
	}
	return out, errors.Join(errs...)
}

func pylockSdists(s *pylockFile) []pylockFile {
	if s == nil {
		return nil
	}
	return []pylockFile{*s}
}

// pylockFileOf checks one wheel or sdist: PEP 751 lets name default to the
// last segment of url or path.
func pylockFileOf(project, version string, f pylockFile) (LockedFile, error) {
	name := f.Name
	if name == "" {
		switch {
		case f.URL != "":
			if u, err := url.Parse(f.URL); err == nil {
				name, _ = url.PathUnescape(path.Base(u.EscapedPath()))
			}
		case f.Path != "":
			name = path.Base(filepath.ToSlash(f.Path))
		}
	}
	if err := validateFilename(name); err != nil {
		return LockedFile{}, err
	}
	if !lockFileOfProject(project, name) {
		return LockedFile{}, fmt.Errorf("%w: %s is not a file of %s", errBadRequirement, lockClip(name), project)
	}
	if version == "" {
		version = versionFromFilename(project, name)
	}
	if !validVersion(version) {
		return LockedFile{}, fmt.Errorf("%w: %s: version %q", errBadRequirement, lockClip(name), lockClip(version))
	}
	var hashes []string
	for algo, sum := range f.Hashes {
		algo, sum = strings.ToLower(algo), strings.ToLower(sum)
		if _, err := hex.DecodeString(sum); err != nil || sum == "" || !lockHashName(algo) {
			return LockedFile{}, fmt.Errorf("%w: %s: hash %s=%q", errBadRequirement, lockClip(name), lockClip(algo), lockClip(sum))
		}
		hashes = append(hashes, algo+":"+sum)
	}
	return LockedFile{Project: project, Version: version, Filename: name, Hashes: lockSortedUnique(hashes), URL: f.URL}, nil
}

// lockHashName accepts hashlib names ("sha256", "blake2b", "sha3_256").
func lockHashName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// lockFileOfProject tells whether a wheel or sdist name starts with the
// project's name, in any of its spellings.
func lockFileOfProject(project, filename string) bool {
	stem := filename
	if strings.HasSuffix(filename, ".whl") {
		n, _, _ := strings.Cut(filename, "-")
		return Normalize(n) == project
	}
	for i := 0; i < len(stem); i++ {
		if stem[i] == '-' && Normalize(stem[:i]) == project {
			return true
		}
	}
	return false
}
