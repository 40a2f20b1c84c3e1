// Package rubygems is the RubyGems ecosystem: a mirror of rubygems.org's
// compact index (https://guides.rubygems.org/rubygems-org-compact-index-api/),
// its .gem files, and the gemspecs gem asks for, mounted at /gems/ and
// built on the registries seam only.
//
// What it serves, below the mount:
//
//	versions                          document (TTL, append-only): every gem's releases and the MD5 of its info file
//	names                             document (TTL, append-only): every gem's name
//	info/$name                        document (TTL, append-only): a line per release, with the .gem's sha256
//	gems/$name-$version[-$platform].gem                artifact (immutable), checked against its info line's sha256
//	quick/Marshal.4.8/$name-$version[-$platform].gemspec.rz   artifact (immutable): the gemspec, which gem install reads
//	specs.4.8.gz, latest_specs.4.8.gz, prerelease_specs.4.8.gz   document (TTL): the full index; offline, written from the held view
//	(the mount itself)                200: gem asks for it (HEAD) to learn the source has the compact index
//
// Clients: bundler (mirror.https://rubygems.org) reads versions and info
// files, and fetches .gem files; gem install (RubyGems 3) reads info files,
// each release's gemspec from quick/Marshal.4.8/, and the .gem. Neither
// needs the full index or the dependency API when the compact index
// answers; `gem sources --add` checks a new source by loading
// specs.4.8.gz, and `gem search --remote` reads latest_specs.4.8.gz, so
// the full index is served: the upstream's while it can be asked, else
// written (Marshal, as Ruby writes it) from the releases versions lists.
// The dependency API (/api/v1/dependencies) is not mirrored.
//
// Consistency, the rule of the compact index: bundler keeps copies of
// versions and of each info file, brings them up to date with
// "Range: bytes=N-" and If-None-Match, fetches an info file again when its
// MD5 is not the one versions lists, and (bundler 2.3 and older) refuses a
// file whose ETag is not the MD5 of its bytes. So every compact index
// file larder serves has the quoted MD5 of its bytes as ETag (a weak one
// for its gzip form); a range is answered only when it continues the very
// copy the client names (registries.AppendOnly), never spliced onto
// another body; and while the upstream cannot be asked, versions is
// written from the info files as /info serves them then (only the
// releases whose .gem larder holds), with the MD5 of those bodies. The
// two are written from one renderer (renderInfo) and one decision per
// document; only in the moment an upstream fails between a client's two
// requests can versions be the upstream's while an info file is already
// the held view: bundler then finds the MD5 changed and fetches that info
// file again, whole. An info file held within its TTL that the upstream's
// versions, read since, lists another MD5 for is revalidated before it is
// served, and before versions under a cutoff is written from it (catchUp),
// so /info does not lag versions by up to the TTL. Under a release-age
// cutoff versions writes each gem larder has read in place of the
// upstream's first line of it (versionsAllowed), so that an upstream
// append is still a range (206) for bundler's copy.
//
// Verification: an info file's line gives "checksum:" the sha256 of the
// release's .gem; storing the info file records it on the .gem's row, and
// the .gem's bytes are checked against it before they are kept. Nothing
// declares a digest of a gemspec: it falls under the registry's
// unverifiable policy (pinned to its first bytes by default; with
// unverifiable = "refuse", gem install cannot install through larder,
// bundler can).
//
// A .gem's file name can be read several ways when the gem's name holds
// "-" and digits ("a-1.0-b-2.0.gem"): each reading's info file is loaded
// until one names the file.
//
// rubygems imports registries and storage; never another ecosystem.
package rubygems
