// Package maven is the Maven repository ecosystem: a mirror of a Maven
// repository (https://maven.apache.org/repository/layout.html) for Maven
// and Gradle, mounted at /maven/ and built on the registries seam only.
//
// What it serves, below the mount:
//
//	g/r/o/u/p/artifact/version/artifact-version[-classifier].ext
//	                         artifact (immutable): jars, POMs, .module, sources, javadoc, .asc
//	g/r/o/u/p/artifact/1.0-SNAPSHOT/artifact-1.0-yyyyMMdd.HHmmss-N[-classifier].ext
//	                         artifact (immutable): a snapshot's timestamped build
//	g/r/o/u/p/artifact/1.0-SNAPSHOT/artifact-1.0-SNAPSHOT[-classifier].ext
//	                         document (TTL): a snapshot's file under its moving name
//	…/maven-metadata.xml     document (TTL): a group's, an artifact's or a snapshot's
//	                         metadata; while the upstream cannot be asked, the view
//	                         of what larder holds
//	any of those + .sha512, .sha256, .sha1, .md5
//	                         the checksum of the bytes larder serves for it, computed
//
// Files are stored under their request path; their rows' package is
// "groupId:artifactId" and their version the version folder.
//
// Verification: before a file is fetched, larder asks the upstream for the
// checksum files beside it (.sha512, .sha256 and .sha1, at once) and
// records the strongest it publishes as what the file must hash to; the
// file is refused, logged and never stored when it differs. A file with no
// checksum upstream falls under the registry's unverifiable policy. The
// file itself is fetched at the same time as its checksums: a cold file
// costs one round trip.
//
// Missing files are cheap: Maven and Gradle probe for files that do not
// exist, and a 404 of the upstream is remembered for negative_ttl, so a
// probe costs one upstream round trip per that time, and is never a 5xx.
// A path outside the layout is a 404 that says why.
//
// maven imports registries and storage; never another ecosystem.
package maven
