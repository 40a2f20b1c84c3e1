package npmtest

import (
	"bytes"
	"cmp"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// registryTime is how the registry writes the times in a packument:
// RFC 3339 in UTC with milliseconds, "2024-05-01T12:34:56.789Z".
const registryTime = "2006-01-02T15:04:05.000Z"

// pkg is one package as the registry stores it.
type pkg struct {
	name     string
	versions map[string]*pkgVersion
	order    []string // versions in publish order, as the registry lists them
	distTags map[string]string
	created  time.Time
	modified time.Time
	rev      int
	// docs are the packument's renderings of rev, by content type and
	// base URL.
	docs    map[string]*renderedDoc
	docsRev int
}

// rendered is the packument rendering named key, made by build once per
// change of p. Call it with the server's lock held.
func (p *pkg) rendered(key string, build func() obj) *renderedDoc {
	if p.docs == nil || p.docsRev != p.rev {
		p.docs, p.docsRev = map[string]*renderedDoc{}, p.rev
	}
	d := p.docs[key]
	if d == nil {
		d = newRenderedDoc(build())
		p.docs[key] = d
	}
	return d
}

type pkgVersion struct {
	version    string
	deps       map[string]string
	info       tarballInfo
	tgz        []byte
	shasum     string // sha1, hex
	integrity  string // "sha512-" + base64
	published  time.Time
	deprecated string
}

// tick returns the time of a change: now, to the millisecond, and always later
// than the previous change so that time.modified moves on every change.
// s.mu is held.
func (s *Server) tick() time.Time {
	t := time.Now().UTC().Truncate(time.Millisecond)
	if !t.After(s.lastTime) {
		t = s.lastTime.Add(time.Millisecond)
	}
	s.lastTime = t
	return t
}

// Publish builds Tarball(name, version, deps) and publishes it, as
// PublishTarball does.
func (s *Server) Publish(name, version string, deps map[string]string) {
	s.PublishTarball(name, version, Tarball(name, version, deps), deps)
}

// PublishTarball publishes tgz as name@version. The version document takes its
// fields from the tarball's package.json when it has one (description, main,
// bin, engines, scripts, ...), with name, version and, when deps is not nil,
// dependencies from the arguments. It sets time.<version>, time.modified (and
// time.created on the first publish) and moves dist-tags.latest to version
// when that is the highest version published (prereleases only while there is
// no release). Publishing an existing version again replaces its bytes, which
// the real registry refuses but tests of changed upstream bytes need.
func (s *Server) PublishTarball(name, version string, tgz []byte, deps map[string]string) {
	tgz = bytes.Clone(tgz)
	info := inspectTarball(tgz)
	if deps == nil {
		if raw, ok := info.manifest["dependencies"]; ok {
			_ = json.Unmarshal(raw, &deps)
		}
	}
	sha1sum := sha1.Sum(tgz)
	sha512sum := sha512.Sum512(tgz)
	v := &pkgVersion{
		version:   version,
		deps:      maps.Clone(deps),
		info:      info,
		tgz:       tgz,
		shasum:    hex.EncodeToString(sha1sum[:]),
		integrity: "sha512-" + base64.StdEncoding.EncodeToString(sha512sum[:]),
	}
	if v.deps == nil {
		v.deps = map[string]string{}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.tick()
	p := s.pkgs[name]
	if p == nil {
		p = &pkg{name: name, versions: map[string]*pkgVersion{}, distTags: map[string]string{}, created: now}
		s.pkgs[name] = p
	}
	v.published = now
	if _, ok := p.versions[version]; !ok {
		p.order = append(p.order, version)
	}
	p.versions[version] = v
	if latest, ok := p.versions[p.distTags["latest"]]; !ok || betterLatest(version, latest.version) {
		p.distTags["latest"] = version
	}
	p.modified = now
	p.rev++
}

// betterLatest reports whether v should replace cur as dist-tags.latest: a
// release beats a prerelease, otherwise the higher version wins.
func betterLatest(v, cur string) bool {
	vp, cp := isPrerelease(v), isPrerelease(cur)
	if vp != cp {
		return cp
	}
	return compareSemver(v, cur) > 0
}

// SetDistTag points dist-tag tag of name at version, which need not exist (a
// dangling tag, as old packuments have). An empty version removes the tag. It
// updates time.modified. It panics if name was never published.
func (s *Server) SetDistTag(name, tag, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPkg(name, "SetDistTag")
	if version == "" {
		delete(p.distTags, tag)
	} else {
		p.distTags[tag] = version
	}
	p.modified = s.tick()
	p.rev++
}

// Deprecate sets (or, with an empty message, clears) the "deprecated" field of
// name@version, as npm deprecate does, and updates time.modified. It panics if
// that version was never published.
func (s *Server) Deprecate(name, version, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPkg(name, "Deprecate")
	v := p.versions[version]
	if v == nil {
		panic(fmt.Sprintf("npmtest: Deprecate: %s@%s was never published", name, version))
	}
	v.deprecated = message
	p.modified = s.tick()
	p.rev++
}

// SetDigests replaces the digests the registry declares for name@version
// (dist.integrity and dist.shasum; an empty one is left out of the
// documents), as old packuments without integrity, or a registry that
// declares what it should not, do. It updates time.modified. It panics if
// that version was never published.
func (s *Server) SetDigests(name, version, integrity, shasum string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPkg(name, "SetDigests")
	v := p.versions[version]
	if v == nil {
		panic(fmt.Sprintf("npmtest: SetDigests: %s@%s was never published", name, version))
	}
	v.integrity, v.shasum = integrity, shasum
	p.modified = s.tick()
	p.rev++
}

// SetPublished sets time.<version> of name@version to at, as if it had been
// published then (tests of the release-age policy choose publish times
// instead of waiting). It updates time.modified. It panics if that version
// was never published.
func (s *Server) SetPublished(name, version string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPkg(name, "SetPublished")
	v := p.versions[version]
	if v == nil {
		panic(fmt.Sprintf("npmtest: SetPublished: %s@%s was never published", name, version))
	}
	v.published = at.UTC().Truncate(time.Millisecond)
	p.modified = s.tick()
	p.rev++
}

func (s *Server) mustPkg(name, op string) *pkg {
	p := s.pkgs[name]
	if p == nil {
		panic(fmt.Sprintf("npmtest: %s: package %s was never published", op, name))
	}
	return p
}

// obj is a JSON object that keeps its keys in order, as the registry's
// documents do.
type obj []field

type field struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshal(f.k)
		if err != nil {
			return nil, err
		}
		v, err := marshal(f.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal is json.Marshal without HTML escaping: the registry writes
// ">=18", not "\u003e=18".
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

var maintainers = []obj{{{"name", "npmtest"}, {"email", "npmtest@example.invalid"}}}

// abbreviatedFields are the version fields the abbreviated ("corgi") document
// keeps, per the registry's API doc (responses/package-metadata.md).
var abbreviatedFields = map[string]bool{
	"name": true, "version": true, "deprecated": true,
	"dependencies": true, "optionalDependencies": true, "devDependencies": true,
	"bundleDependencies": true, "bundledDependencies": true,
	"peerDependencies": true, "peerDependenciesMeta": true, "acceptDependencies": true,
	"bin": true, "directories": true, "dist": true, "engines": true,
	"_hasShrinkwrap": true, "hasInstallScript": true,
	"cpu": true, "os": true, "funding": true,
}

// versionDoc is a version object of the full packument, and the body of
// GET /{name}/{version}.
func (p *pkg) versionDoc(v *pkgVersion, base string) obj {
	m := v.info.manifest
	o := obj{{"name", p.name}, {"version", v.version}}
	skip := map[string]bool{"name": true, "version": true, "dependencies": true, "deprecated": true, "dist": true, "_id": true}
	addKnown := func(k string, def any) {
		skip[k] = true
		if raw, ok := m[k]; ok {
			o = append(o, field{k, raw})
		} else if def != nil {
			o = append(o, field{k, def})
		}
	}
	addKnown("description", defaultDescription(p.name))
	addKnown("main", "index.js")
	addKnown("license", "MIT")
	o = append(o, field{"dependencies", v.deps})
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !skip[k] && !strings.HasPrefix(k, "_") {
			o = append(o, field{k, m[k]})
		}
	}
	if v.deprecated != "" {
		o = append(o, field{"deprecated", v.deprecated})
	}
	if hasInstallScript(m) {
		o = append(o, field{"hasInstallScript", true})
	}
	return append(o,
		field{"_id", p.name + "@" + v.version},
		field{"_nodeVersion", "20.11.1"},
		field{"_npmVersion", "10.2.4"},
		field{"dist", p.dist(v, base)},
		field{"_npmUser", maintainers[0]},
		field{"maintainers", maintainers},
		field{"_hasShrinkwrap", false},
	)
}

func hasInstallScript(manifest map[string]json.RawMessage) bool {
	var scripts map[string]any
	if json.Unmarshal(manifest["scripts"], &scripts) != nil {
		return false
	}
	for _, k := range []string{"preinstall", "install", "postinstall"} {
		if _, ok := scripts[k]; ok {
			return true
		}
	}
	return false
}

func (p *pkg) dist(v *pkgVersion, base string) obj {
	// The registry signs "name@version:integrity" (ECDSA P-256); this fake
	// signature is only shaped like one, for pass-through tests.
	sig := sha256.Sum256([]byte(p.name + "@" + v.version + ":" + v.integrity))
	var o obj
	if v.integrity != "" {
		o = append(o, field{"integrity", v.integrity})
	}
	if v.shasum != "" {
		o = append(o, field{"shasum", v.shasum})
	}
	return append(o, obj{
		{"tarball", base + TarballPath(p.name, v.version)},
		{"fileCount", v.info.fileCount},
		{"unpackedSize", v.info.unpackedSize},
		{"signatures", []obj{{
			{"keyid", fakeKeyID},
			{"sig", "MEUCIQ" + base64.StdEncoding.EncodeToString(sig[:])},
		}}},
	}...)
}

func (p *pkg) distTagsDoc() obj {
	var o obj
	if v, ok := p.distTags["latest"]; ok {
		o = append(o, field{"latest", v})
	}
	for _, k := range slices.Sorted(maps.Keys(p.distTags)) {
		if k != "latest" {
			o = append(o, field{k, p.distTags[k]})
		}
	}
	if o == nil {
		o = obj{}
	}
	return o
}

// fullDoc is the full packument (Content-Type application/json).
func (p *pkg) fullDoc(base string) obj {
	versions := obj{}
	times := obj{{"created", p.created.Format(registryTime)}, {"modified", p.modified.Format(registryTime)}}
	for _, ver := range p.order {
		v := p.versions[ver]
		versions = append(versions, field{ver, p.versionDoc(v, base)})
		times = append(times, field{ver, v.published.Format(registryTime)})
	}
	description := defaultDescription(p.name)
	if latest, ok := p.versions[p.distTags["latest"]]; ok {
		description = latest.description(p.name)
	}
	revHash := sha256.Sum256([]byte(p.name + "\x00" + strconv.Itoa(p.rev)))
	return obj{
		{"_id", p.name},
		{"_rev", strconv.Itoa(p.rev) + "-" + hex.EncodeToString(revHash[:16])},
		{"name", p.name},
		{"description", description},
		{"dist-tags", p.distTagsDoc()},
		{"versions", versions},
		{"time", times},
		{"maintainers", maintainers},
		{"readme", "# " + p.name + "\n\n" + description + "\n"},
		{"readmeFilename", "README.md"},
		{"license", "MIT"},
	}
}

// description is the version's package.json description, or the default.
func (v *pkgVersion) description(name string) string {
	var d string
	if json.Unmarshal(v.info.manifest["description"], &d) == nil {
		return d
	}
	return defaultDescription(name)
}

// abbreviatedDoc is the abbreviated packument (Content-Type
// application/vnd.npm.install-v1+json). Like the registry's, it has no time.
func (p *pkg) abbreviatedDoc(base string) obj {
	versions := obj{}
	for _, ver := range p.order {
		var o obj
		for _, f := range p.versionDoc(p.versions[ver], base) {
			if abbreviatedFields[f.k] {
				o = append(o, f)
			}
		}
		versions = append(versions, field{ver, o})
	}
	return obj{
		{"name", p.name},
		{"dist-tags", p.distTagsDoc()},
		{"versions", versions},
		{"modified", p.modified.Format(registryTime)},
	}
}

// Semantic versions, enough of semver.org to pick dist-tags.latest.

type semver struct {
	nums [3]int
	pre  []string
}

func parseSemver(s string) semver {
	s = strings.TrimPrefix(s, "v")
	s, _, _ = strings.Cut(s, "+")
	core, pre, hasPre := strings.Cut(s, "-")
	var v semver
	for i, part := range strings.SplitN(core, ".", 3) {
		v.nums[i], _ = strconv.Atoi(part)
	}
	if hasPre {
		v.pre = strings.Split(pre, ".")
	}
	return v
}

func isPrerelease(s string) bool { return len(parseSemver(s).pre) > 0 }

// compareSemver returns -1, 0 or +1 as a is lower than, equal to or higher than b.
func compareSemver(a, b string) int {
	va, vb := parseSemver(a), parseSemver(b)
	for i := range va.nums {
		if c := cmp.Compare(va.nums[i], vb.nums[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(va.pre) == 0 && len(vb.pre) == 0:
		return 0
	case len(va.pre) == 0:
		return 1
	case len(vb.pre) == 0:
		return -1
	}
	for i := 0; i < len(va.pre) && i < len(vb.pre); i++ {
		x, y := va.pre[i], vb.pre[i]
		nx, errx := strconv.Atoi(x)
		ny, erry := strconv.Atoi(y)
		var c int
		switch {
		case errx == nil && erry == nil:
			c = cmp.Compare(nx, ny)
		case errx == nil: // numeric identifiers sort before alphanumeric ones
			c = -1
		case erry == nil:
			c = 1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return cmp.Compare(len(va.pre), len(vb.pre))
}
