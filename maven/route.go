package maven

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/larder-mirror/larder/registries"
)

type routeKind int

const (
	routeArtifact     routeKind = iota // an immutable file: a release's, or a timestamped snapshot's
	routeMetadata                      // maven-metadata.xml: artifact, group or snapshot level
	routeSnapshotFile                  // a-1.0-SNAPSHOT.jar: a snapshot's file under its moving name
)

// route is a request path below the mount, read once. A checksum file
// (".sha1", ".md5", ".sha256", ".sha512") is the route of the file it
// sums, with sum set.
type route struct {
	kind routeKind
	path string // of the file (without a checksum suffix), as stored: "org/x/a/1.0/a-1.0.jar"
	sum  string // "", or the checksum algorithm asked for: "sha1", "md5", "sha256", "sha512"
	// dir is a metadata file's folder ("org/x/a"); the rest are a file's
	// coordinates, from its path.
	dir                       string
	group, artifact, version  string
	ext                       string // what follows the version (and classifier): "jar", "pom.asc"
	snapshotDir, snapshotBase bool   // a -SNAPSHOT folder; a file under its moving name
}

// pkg is the package the route's file belongs to, "group:artifact".
func (rt route) pkg() string { return rt.group + ":" + rt.artifact }

// docKey is what the documents of the route are stored under: its
// package, so that they go with its files in an export; a group's
// metadata, whose folder names no artifact, under its folder.
func (rt route) docKey() string {
	if rt.artifact == "" {
		return rt.dir
	}
	return rt.pkg()
}

// metadataVariant tells an artifact's (or a group's) metadata from a
// snapshot version's, under one key.
func (rt route) metadataVariant() string {
	if rt.snapshotDir {
		return rt.version + "/" + metadataFile
	}
	return metadataFile
}

// requestPath is the route's own path: the file's, or its checksum's.
func (rt route) requestPath() string {
	if rt.sum == "" {
		return rt.path
	}
	return rt.path + "." + rt.sum
}

// checksumAlgorithms are the checksum files larder serves beside every
// file, strongest first.
var checksumAlgorithms = []string{"sha512", "sha256", "sha1", "md5"}

const metadataFile = "maven-metadata.xml"

// segmentRE is one folder or file name of the layout: group parts,
// artifact ids, versions and file names are made of these characters
// (Maven's own validation allows a few more in versions; Maven Central
// has none of them).
var segmentRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._+~-]*$`)

// timestampRE is a unique snapshot's version tail: yyyyMMdd.HHmmss-build.
var timestampRE = regexp.MustCompile(`^[0-9]{8}\.[0-9]{6}-[0-9]+`)

// parseRoute reads an escaped request path below the mount, in the
// repository layout group/as/path/artifact/version/artifact-version[-classifier].ext
// (https://maven.apache.org/repository/layout.html).
func parseRoute(raw string) (route, error) {
	p, err := url.PathUnescape(strings.TrimPrefix(raw, "/"))
	if err != nil {
		return route{}, registries.Refuse("malformed path: %v", err)
	}
	segs := strings.Split(p, "/")
	for _, s := range segs {
		if !segmentRE.MatchString(s) {
			return route{}, registries.Refuse("%q is not a path of the Maven repository layout (group/path/artifact/version/file)", p)
		}
	}
	rt := route{}
	file := segs[len(segs)-1]
	for _, algo := range checksumAlgorithms {
		if base, ok := strings.CutSuffix(file, "."+algo); ok {
			rt.sum, file = algo, base
			segs[len(segs)-1] = base
			break
		}
	}
	if file == metadataFile {
		if len(segs) < 2 {
			return route{}, registries.Refuse("%s at the root of a repository is no file of the layout", metadataFile)
		}
		rt.kind, rt.dir = routeMetadata, strings.Join(segs[:len(segs)-1], "/")
		rt.path = rt.dir + "/" + metadataFile
		if len(segs) >= 4 && strings.HasSuffix(segs[len(segs)-2], "-SNAPSHOT") {
			rt.snapshotDir = true
			rt.group, rt.artifact, rt.version = strings.Join(segs[:len(segs)-3], "."), segs[len(segs)-3], segs[len(segs)-2]
		} else if len(segs) >= 3 {
			rt.group, rt.artifact = strings.Join(segs[:len(segs)-2], "."), segs[len(segs)-2]
		}
		return rt, nil
	}
	if len(segs) < 4 {
		return route{}, registries.Refuse("%q is not a file of the Maven repository layout (group/path/artifact/version/artifact-version[-classifier].ext)", p)
	}
	rt.path = strings.Join(segs, "/")
	rt.group = strings.Join(segs[:len(segs)-3], ".")
	rt.artifact, rt.version = segs[len(segs)-3], segs[len(segs)-2]
	rest, ok := strings.CutPrefix(file, rt.artifact+"-")
	if !ok {
		return route{}, registries.Refuse("%q: a file of %s:%s:%s is named %s-%s…", p, rt.group, rt.artifact, rt.version, rt.artifact, rt.version)
	}
	rt.kind = routeArtifact
	if base, isSnapshot := strings.CutSuffix(rt.version, "SNAPSHOT"); isSnapshot && strings.HasSuffix(base, "-") {
		rt.snapshotDir = true
		after, ok := strings.CutPrefix(rest, base)
		if !ok {
			return route{}, registries.Refuse("%q: a file of snapshot %s:%s:%s is named %s-%s…", p, rt.group, rt.artifact, rt.version, rt.artifact, base)
		}
		if tail, moving := strings.CutPrefix(after, "SNAPSHOT"); moving {
			rt.kind, rt.snapshotBase, rest = routeSnapshotFile, true, tail
		} else if ts := timestampRE.FindString(after); ts != "" {
			rest = after[len(ts):]
		} else {
			return route{}, registries.Refuse("%q: a file of snapshot %s:%s:%s is named %s-%sSNAPSHOT… or %s-%syyyyMMdd.HHmmss-N…", p, rt.group, rt.artifact, rt.version, rt.artifact, base, rt.artifact, base)
		}
	} else if rest, ok = strings.CutPrefix(rest, rt.version); !ok {
		return route{}, registries.Refuse("%q: a file of %s:%s:%s is named %s-%s…", p, rt.group, rt.artifact, rt.version, rt.artifact, rt.version)
	}
	// What is left is "[-classifier].ext".
	if strings.HasPrefix(rest, "-") {
		_, rest, _ = strings.Cut(rest[1:], ".")
	} else if rest, ok = strings.CutPrefix(rest, "."); !ok {
		return route{}, registries.Refuse("%q: want %s-%s[-classifier].ext", p, rt.artifact, rt.version)
	}
	if rest == "" {
		return route{}, registries.Refuse("%q: a file of the layout has an extension", p)
	}
	rt.ext = rest
	return rt, nil
}
