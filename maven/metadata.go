package maven

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/larder-mirror/larder/registries"
)

// metadata is maven-metadata.xml (https://maven.apache.org/repositories/metadata.html),
// at any of its three levels: a group's (plugin prefixes), an artifact's
// (its versions, latest and release) and a snapshot version's (its
// timestamped builds). larder serves the upstream's bytes as they are,
// and writes its own only for the view of what it holds.
type metadata struct {
	XMLName      xml.Name    `xml:"metadata"`
	ModelVersion string      `xml:"modelVersion,attr,omitempty"`
	GroupID      string      `xml:"groupId,omitempty"`
	ArtifactID   string      `xml:"artifactId,omitempty"`
	Version      string      `xml:"version,omitempty"`
	Versioning   *versioning `xml:"versioning,omitempty"`
	Plugins      *plugins    `xml:"plugins,omitempty"`
}

type versioning struct {
	Latest           string            `xml:"latest,omitempty"`
	Release          string            `xml:"release,omitempty"`
	Snapshot         *snapshot         `xml:"snapshot,omitempty"`
	Versions         *versionList      `xml:"versions,omitempty"`
	LastUpdated      string            `xml:"lastUpdated,omitempty"`
	SnapshotVersions *snapshotVersions `xml:"snapshotVersions,omitempty"`
}

type versionList struct {
	Version []string `xml:"version"`
}

type snapshot struct {
	Timestamp   string `xml:"timestamp,omitempty"`
	BuildNumber string `xml:"buildNumber,omitempty"`
	LocalCopy   string `xml:"localCopy,omitempty"`
}

type snapshotVersions struct {
	SnapshotVersion []snapshotVersion `xml:"snapshotVersion"`
}

type snapshotVersion struct {
	Classifier string `xml:"classifier,omitempty"`
	Extension  string `xml:"extension"`
	Value      string `xml:"value"`
	Updated    string `xml:"updated,omitempty"`
}

type plugins struct {
	Plugin []plugin `xml:"plugin"`
}

type plugin struct {
	Name       string `xml:"name,omitempty"`
	Prefix     string `xml:"prefix"`
	ArtifactID string `xml:"artifactId"`
}

func parseMetadata(body []byte) (*metadata, error) {
	var m metadata
	if err := xml.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("maven-metadata.xml: %v", err)
	}
	return &m, nil
}

// checkMetadata accepts a maven-metadata.xml that parses, and keeps it as
// the upstream wrote it.
func checkMetadata(body []byte, _ string) (registries.Prepared, error) {
	if _, err := parseMetadata(body); err != nil {
		return registries.Prepared{}, err
	}
	return registries.Prepared{Body: body, ContentType: mediaXML}, nil
}

func (m *metadata) marshal() []byte {
	out, _ := xml.MarshalIndent(m, "", "  ")
	return append(append([]byte(xml.Header), out...), '\n')
}

// metadataView is a maven-metadata.xml: the upstream's, with a TTL, and
// while the upstream cannot be asked the view of what larder holds (the
// versions with files held, latest and release among them; a snapshot's
// builds held), so that version ranges, LATEST and RELEASE resolve to
// something Maven can install. Under a release-age cutoff, only the
// versions old enough, latest and release among them. A group's metadata
// (plugin prefixes) is served as it was.
func (g *Registry) metadataView(ctx context.Context, rt route) (*registries.Rendered, registries.CacheStatus, error) {
	if rt.snapshotDir {
		// A snapshot's builds are dated as its version: nothing is
		// fetched for one held back.
		if err := g.checkVersion(ctx, rt); err != nil {
			return nil, "", err
		}
	}
	doc, err := g.up.Document(ctx, registries.DocRequest{
		Key: rt.docKey(), Variant: rt.metadataVariant(), URL: g.upstreamURL(rt.path), Prepare: checkMetadata,
	})
	if errors.Is(err, registries.ErrNotFound) {
		g.missing.add(rt.path)
		return nil, "", err
	}
	if err != nil && !errors.Is(err, registries.ErrNotCached) {
		return nil, "", err
	}
	hasDoc := err == nil
	var held, allowed map[string]bool
	var heldKey, ageKey string
	if rt.artifact != "" {
		var herr error
		if held, heldKey, herr = g.up.HeldView(ctx, rt.pkg(), !hasDoc || doc.Degraded); herr != nil {
			return nil, "", herr
		}
		if !rt.snapshotDir {
			if hasDoc {
				if herr = g.recordMetadata(ctx, rt.pkg(), doc.Document); herr != nil {
					return nil, "", herr
				}
			}
			if allowed, ageKey, herr = g.up.AllowedReleases(ctx, g.up.Cutoff(ctx, rt.pkg()), rt.pkg()); herr != nil {
				return nil, "", herr
			}
		}
	}
	if held == nil && allowed == nil {
		if !hasDoc {
			return nil, "", err
		}
		r, err := g.up.RenderStored(ctx, doc.Document, mediaXML)
		return r, doc.Status, err
	}
	if held == nil && !hasDoc {
		return nil, "", err
	}
	status := registries.Stale
	m := &metadata{GroupID: rt.group, ArtifactID: rt.artifact, Version: rt.version}
	if hasDoc {
		status = doc.Status
		body, err := g.up.Body(ctx, doc.Document)
		if err != nil {
			return nil, "", err
		}
		if m, err = parseMetadata(body); err != nil {
			return nil, "", err
		}
		if m.Plugins != nil && (m.Versioning == nil || (m.Versioning.Versions == nil && m.Versioning.Snapshot == nil)) {
			r, err := g.up.RenderStored(ctx, doc.Document, mediaXML)
			return r, doc.Status, err
		}
	}
	key := g.name + "\x00held\x00" + rt.path + "\x00" + string(doc.Body) + "\x00" + heldKey + "\x00" + ageKey
	r, err := g.up.Env().Renders.Get(ctx, key, func() (*registries.Rendered, error) {
		ok := true
		switch {
		case held == nil:
		case rt.snapshotDir:
			ok = heldSnapshots(m, rt, held)
		default:
			ok = heldVersions(m, rt, held)
		}
		if !ok {
			return nil, g.up.NotCached("any version of " + rt.pkg())
		}
		if allowed != nil {
			// With no version old enough, the list is empty: Maven
			// then says no version matches.
			keepAllowed(m, allowed)
		}
		return registries.NewRendered(m.marshal(), mediaXML), nil
	})
	return r, status, err
}

// heldVersions turns an artifact's metadata into the view of the versions
// whose files larder holds (those it lists, and any other held), with
// latest and release recomputed from them. False when none is held.
func heldVersions(m *metadata, rt route, held map[string]bool) bool {
	have := map[string]bool{}
	for p := range held {
		if rest, ok := strings.CutPrefix(p, rt.dir+"/"); ok {
			if v, _, ok := strings.Cut(rest, "/"); ok {
				have[v] = true
			}
		}
	}
	if len(have) == 0 {
		return false
	}
	versions := make([]string, 0, len(have))
	for v := range have {
		versions = append(versions, v)
	}
	slices.SortFunc(versions, compareVersions)
	if m.Versioning == nil {
		m.Versioning = &versioning{}
	}
	vs := m.Versioning
	vs.Versions = &versionList{Version: versions}
	vs.Latest, vs.Release = versions[len(versions)-1], ""
	for _, v := range slices.Backward(versions) {
		if !isSnapshot(v) {
			vs.Release = v
			break
		}
	}
	return true
}

// heldSnapshots turns a snapshot version's metadata into the view of the
// builds whose files larder holds, the newest of them the snapshot's
// current build. False when none is held.
func heldSnapshots(m *metadata, rt route, held map[string]bool) bool {
	if m.Versioning == nil || m.Versioning.SnapshotVersions == nil {
		// Only <snapshot>: its build is held when its POM is.
		if m.Versioning == nil || m.Versioning.Snapshot == nil {
			return false
		}
		s := m.Versioning.Snapshot
		value := strings.TrimSuffix(rt.version, "SNAPSHOT") + s.Timestamp + "-" + s.BuildNumber
		return held[rt.dir+"/"+rt.artifact+"-"+value+".pom"]
	}
	var kept []snapshotVersion
	base := strings.TrimSuffix(rt.version, "SNAPSHOT")
	// The newest build with its POM held; failing that, with any file held.
	var newestPOM, newestAny snapshotBuild
	for _, sv := range m.Versioning.SnapshotVersions.SnapshotVersion {
		name := rt.artifact + "-" + sv.Value
		if sv.Classifier != "" {
			name += "-" + sv.Classifier
		}
		if !held[rt.dir+"/"+name+"."+sv.Extension] {
			continue
		}
		kept = append(kept, sv)
		b, ok := parseBuild(base, sv.Value)
		if !ok {
			continue
		}
		if sv.Classifier == "" && sv.Extension == "pom" && b.newerThan(newestPOM) {
			newestPOM = b
		}
		if b.newerThan(newestAny) {
			newestAny = b
		}
	}
	if len(kept) == 0 {
		return false
	}
	m.Versioning.SnapshotVersions.SnapshotVersion = kept
	newest := newestPOM
	if newest.stamp == "" {
		newest = newestAny
	}
	if newest.stamp != "" {
		m.Versioning.Snapshot = &snapshot{Timestamp: newest.stamp, BuildNumber: strconv.Itoa(newest.number)}
	}
	return true
}

// snapshotBuild is one timestamped build of a snapshot: "20240101.120000"
// and its build number. The zero value is older than any build.
type snapshotBuild struct {
	stamp  string // yyyyMMdd.HHmmss: fixed width, so it orders as text
	number int
}

// parseBuild reads a build from a snapshotVersion's value, base being the
// version without "SNAPSHOT" ("1.0-").
func parseBuild(base, value string) (snapshotBuild, bool) {
	ts, ok := strings.CutPrefix(value, base)
	if !ok || !timestampRE.MatchString(ts) {
		return snapshotBuild{}, false
	}
	stamp, num, _ := strings.Cut(ts, "-")
	n, err := strconv.Atoi(num)
	if err != nil {
		return snapshotBuild{}, false
	}
	return snapshotBuild{stamp, n}, true
}

// newerThan orders builds by timestamp, then by build number as a number:
// as text, build 10 would sort before build 9.
func (b snapshotBuild) newerThan(o snapshotBuild) bool {
	if b.stamp != o.stamp {
		return b.stamp > o.stamp
	}
	return b.number > o.number
}

// errOnQuickPath: the quick path does not wait on the upstream for a
// checksum.
var errOnQuickPath = errors.New("not asked on the quick path")

// snapshotFileView is a snapshot's file under its moving name
// (a-1.0-SNAPSHOT.jar, which an upstream that keeps no timestamped
// builds serves): a document with a TTL, checked against the strongest
// checksum the upstream publishes beside it before new bytes are kept.
//
// The checksum is read first, whatever the upstream's health: while it is
// suspect, the file is still revalidated behind the client's back, and
// what that brings in is checked like the rest. A checksum that could not
// be read is not the absence of one: then no new bytes are kept (the held
// copy is served), and only an upstream that answers it publishes none
// falls under the unverifiable policy.
func (g *Registry) snapshotFileView(ctx context.Context, rt route) (*registries.Rendered, registries.CacheStatus, error) {
	if err := g.checkVersion(ctx, rt); err != nil {
		return nil, "", err
	}
	// Read through its own documents, with their TTL and stale copies; a
	// checksum changed meanwhile fails the check, and the next request
	// tries again. The quick path runs this view only for a copy fresh in
	// memory, which is served as it is: it asks for no checksum (which
	// might wait on the upstream), and keeps nothing new.
	algo, sum, unasked := "", "", errOnQuickPath
	if !registries.OnQuickPath(ctx) {
		algo, sum, unasked = g.upstreamChecksum(ctx, rt)
	}
	var want registries.Integrity
	if sum != "" {
		want = registries.SRIFromHex(algo, sum)
	}
	doc, err := g.up.Document(ctx, registries.DocRequest{
		Key: rt.docKey(), Variant: variantSnapshotFile + rt.path, Package: rt.pkg(), URL: g.upstreamURL(rt.path),
		Prepare: func(body []byte, _ string) (registries.Prepared, error) {
			switch {
			case unasked != nil:
				return registries.Prepared{}, fmt.Errorf("%w: the checksum beside %s could not be read, so its new bytes cannot be checked: %w", registries.ErrIntegrity, rt.path, unasked)
			case want == "" && g.up.Options().Unverifiable == registries.RefuseUnverifiable:
				return registries.Prepared{}, fmt.Errorf("%w: the upstream publishes no checksum beside %s (unverifiable = %q)", registries.ErrIntegrity, rt.path, registries.RefuseUnverifiable)
			case want != "":
				if _, err := want.Check(bytes.NewReader(body)); err != nil {
					return registries.Prepared{}, err
				}
			}
			return registries.Prepared{Body: body, ContentType: contentTypeOf(rt.ext)}, nil
		},
	})
	if errors.Is(err, registries.ErrNotFound) {
		g.missing.add(rt.path)
	}
	if err != nil {
		return nil, "", err
	}
	r, err := g.up.RenderStored(ctx, doc.Document, contentTypeOf(rt.ext))
	return r, doc.Status, err
}
