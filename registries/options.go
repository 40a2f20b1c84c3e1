package registries

import (
	"net/url"
	"time"
)

// Options configure one mounted registry's upstream and cache policy. The
// zero value of each field means the default named beside it.
type Options struct {
	Name     string   // mount name
	Upstream *url.URL // base URL of the upstream registry, ending in "/"
	// AlsoFrom lists other hosts whose URLs the upstream's documents may
	// contain and that larder may resolve: npm's tarball_hosts, PyPI's
	// file_hosts. What an ecosystem does with them is its own affair.
	AlsoFrom    []*url.URL
	MetadataTTL time.Duration // 5m
	Offline     bool          // never contact the upstream

	ConnectTimeout  time.Duration // 5s, as in the Apache recipe larder replaces
	ResponseTimeout time.Duration // 15s to the response headers
	IdleTimeout     time.Duration // 30s without a byte of body cuts the transfer
	// StaleWait is how long a request that could be answered from a stale
	// copy waits for revalidation before it is answered STALE (the
	// revalidation goes on in the background). 2s.
	StaleWait time.Duration

	// MaxConnections bounds the connections open to one upstream host at
	// once; requests past it wait for one to come free. 64.
	MaxConnections int

	MaxDocumentSize int64 // 256 MiB (decompressed; real packuments reach 40 MB)
	MaxArtifactSize int64 // 4 GiB

	// Verify makes the verifier of each download: the ecosystem's hook.
	// VerifyDeclared.
	Verify VerifyFunc
	// Unverifiable is what to do with an artifact Verify has nothing to
	// check against: PinFirstSeen (the default) or RefuseUnverifiable.
	Unverifiable string

	// FailuresToDown consecutive upstream failures mark it down. 3.
	FailuresToDown int
	// ProbeInterval is the first wait between probes of a down upstream;
	// it doubles up to 30s. 2s.
	ProbeInterval time.Duration

	// MinReleaseAge holds back releases younger than this from documents
	// and downloads (see Cutoff); 0: none. MinReleaseAgeExempt are the
	// packages ("@our-org/*") and versions ("typescript@5.9.3") it spares.
	MinReleaseAge       time.Duration
	MinReleaseAgeExempt []string

	// Now is the clock of freshness decisions (a document's age against
	// MetadataTTL) and of the times rows record; time.Now. Tests move a
	// fake one on instead of sleeping.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.MetadataTTL, 5*time.Minute)
	def(&o.ConnectTimeout, 5*time.Second)
	def(&o.ResponseTimeout, 15*time.Second)
	def(&o.IdleTimeout, 30*time.Second)
	def(&o.StaleWait, 2*time.Second)
	def(&o.ProbeInterval, 2*time.Second)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = 64
	}
	if o.MaxDocumentSize == 0 {
		o.MaxDocumentSize = 256 << 20
	}
	if o.MaxArtifactSize == 0 {
		o.MaxArtifactSize = 4 << 30
	}
	if o.Verify == nil {
		o.Verify = VerifyDeclared
	}
	if o.Unverifiable == "" {
		o.Unverifiable = PinFirstSeen
	}
	if o.FailuresToDown == 0 {
		o.FailuresToDown = 3
	}
}

// Now is the time by the registry's clock (Options.Now).
func (u *Upstream) Now() time.Time { return u.opts.Now() }
