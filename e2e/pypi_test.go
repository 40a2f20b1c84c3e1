package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/pypi/pypitest"
)

func pypiConfig(up *pypitest.Server, extra string) string {
	return fmt.Sprintf(`
[[registry]]
name = "pypi"
kind = "pypi"
upstream = %q
file_hosts = [%q]
response_timeout = "3s"
%s
`, up.IndexURL, up.FilesURL, extra)
}

// publishPython publishes projects with dependencies, a yanked release and a
// release for a Python that does not exist yet.
func publishPython(up *pypitest.Server) {
	up.AddWheel("alpha", "1.0.0", []string{"beta>=1.0"}, ">=3.8")
	up.AddWheel("beta", "1.0.0", nil, "")
	up.AddWheel("beta", "2.0.0", nil, ">=4") // must not be chosen
	up.AddWheel("gamma", "1.0.0", nil, "")
	name, data := pypitest.Wheel("gamma", "2.0.0", nil, "")
	up.AddFile("gamma", name, data, pypitest.FileOpts{Yanked: true, YankedReason: "broken", Metadata: pypitest.WheelMetadata("gamma", "2.0.0", nil, "")})
	up.AddWheel("Delta_Pkg", "0.3.0", nil, "")
	up.AddSdist("epsilon", "1.0.0", nil)
}

// pip runs `python3 -m pip` with nothing inherited from this machine's pip
// configuration (it sets PIP_FIND_LINKS and others) and a fresh cache.
type pip struct {
	t     *testing.T
	index string
	dir   string
}

func newPip(t *testing.T, index string) *pip {
	return &pip{t: t, index: index, dir: t.TempDir()}
}

func (p *pip) run(args ...string) (string, error) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, requireTool(p.t, "python3"), append([]string{"-m", "pip"}, args...)...)
	cmd.Dir = p.dir
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PIP_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env,
		"PIP_INDEX_URL="+p.index,
		"PIP_CACHE_DIR="+filepath.Join(p.t.TempDir(), "pip-cache"),
		"PIP_DISABLE_PIP_VERSION_CHECK=1",
		"PIP_NO_INPUT=1",
		"PIP_CONFIG_FILE=/dev/null",
		"PIP_DEFAULT_TIMEOUT=20",
		"PIP_RETRIES=0",
	)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (p *pip) mustRun(args ...string) string {
	p.t.Helper()
	out, err := p.run(args...)
	if err != nil {
		p.t.Fatalf("pip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// installedDists lists the dist-info folders pip installed under target.
func installedDists(t *testing.T, target string) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(target, "*.dist-info"))
	var names []string
	for _, m := range matches {
		names = append(names, filepath.Base(m))
	}
	return strings.Join(names, " ")
}

func requestsOnlyFromLarder(t *testing.T, up *pypitest.Server) {
	t.Helper()
	for _, r := range up.Requests() {
		if !strings.HasPrefix(r.Header.Get("User-Agent"), "larder/") {
			t.Errorf("%s host saw %s %s from %q: pip went around larder", r.Host, r.Method, r.Path, r.Header.Get("User-Agent"))
		}
	}
}

func TestPipInstallsThroughLarderAndAgainWithTheUpstreamGone(t *testing.T) {
	up := pypitest.New()
	defer up.Close()
	publishPython(up)
	l := startLarder(t, pypiConfig(up, ""))
	index := l.URL + "/pypi/simple/"

	p := newPip(t, index)
	target := filepath.Join(t.TempDir(), "site")
	p.mustRun("install", "--target", target, "alpha", "gamma")
	got := installedDists(t, target)
	for _, want := range []string{"alpha-1.0.0.dist-info", "beta-1.0.0.dist-info", "gamma-1.0.0.dist-info"} {
		if !strings.Contains(got, want) {
			t.Errorf("installed %q, want %s (yanked and requires-python releases must not be chosen)", got, want)
		}
	}
	requestsOnlyFromLarder(t, up)
	beta2 := "/" + strings.TrimPrefix(strings.TrimPrefix(up.FileURL(pypitest.WheelFilename("beta", "2.0.0")), up.FilesURL), "/")
	if n := up.Count("files", "GET", beta2); n != 0 {
		t.Errorf("beta 2.0.0 (requires-python >=4) was downloaded %d times", n)
	}
	// Nor loaded ahead (alpha's metadata was kept seconds before pip
	// ended): pip's User-Agent names its Python, and larder passes over
	// the releases that Python cannot run.
	if n := up.Count("files", "GET", beta2+".metadata"); n != 0 {
		t.Errorf("the metadata of beta 2.0.0 (requires-python >=4) was fetched %d times", n)
	}

	for _, mode := range []pypitest.Mode{pypitest.ModeRefuse, pypitest.ModeHang} {
		up.SetMode(mode)
		target := filepath.Join(t.TempDir(), "site")
		start := time.Now()
		out := newPip(t, index).mustRun("install", "--target", target, "alpha", "gamma")
		t.Logf("warm pip install with the upstream %v: %v", mode, time.Since(start))
		if got := installedDists(t, target); !strings.Contains(got, "alpha-1.0.0") || !strings.Contains(got, "beta-1.0.0") {
			t.Errorf("upstream %v: installed %q\n%s", mode, got, out)
		}
	}
	up.SetMode(pypitest.ModeNormal)
}

func TestPipRequireHashesAndSdistDownload(t *testing.T) {
	up := pypitest.New()
	defer up.Close()
	publishPython(up)
	l := startLarder(t, pypiConfig(up, ""))
	index := l.URL + "/pypi/simple/"
	p := newPip(t, index)

	_, alpha := pypitest.Wheel("alpha", "1.0.0", []string{"beta>=1.0"}, ">=3.8")
	_, beta := pypitest.Wheel("beta", "1.0.0", nil, "")
	req := fmt.Sprintf("alpha==1.0.0 \\\n    --hash=sha256:%s\nbeta==1.0.0 --hash=sha256:%s\n", sha(alpha), sha(beta))
	if err := os.WriteFile(filepath.Join(p.dir, "requirements.txt"), []byte(req), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "site")
	p.mustRun("install", "--require-hashes", "-r", "requirements.txt", "--target", target)
	if got := installedDists(t, target); !strings.Contains(got, "alpha-1.0.0") || !strings.Contains(got, "beta-1.0.0") {
		t.Errorf("installed %q", got)
	}

	dest := filepath.Join(t.TempDir(), "dl")
	p.mustRun("download", "--no-deps", "--no-binary", ":all:", "--no-build-isolation", "--dest", dest, "epsilon==1.0.0")
	name, data := pypitest.Sdist("epsilon", "1.0.0", nil)
	got, err := os.ReadFile(filepath.Join(dest, name))
	if err != nil || sha(got) != sha(data) {
		t.Errorf("downloaded sdist %s: %v", name, err)
	}
}

func TestPipFailsOnAHashMismatchAndLarderStoresNothing(t *testing.T) {
	up := pypitest.New()
	defer up.Close()
	publishPython(up)
	up.SetMode(pypitest.ModeBadHash)
	l := startLarder(t, pypiConfig(up, ""))
	p := newPip(t, l.URL+"/pypi/simple/")
	if out, err := p.run("install", "--target", filepath.Join(t.TempDir(), "site"), "beta==1.0.0"); err == nil {
		t.Fatalf("pip installed bytes that do not match the declared sha256:\n%s", out)
	}
	path := "files/beta/" + pypitest.WheelFilename("beta", "1.0.0")
	if l.storedSHA256("pypi", path) != "" || l.storedSHA256("pypi", path+".metadata") != "" {
		t.Error("a mismatching file was stored")
	}
	if resp, _ := l.get(t, "/pypi/"+path); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("mismatching file: %d, want 502", resp.StatusCode)
	}
	if files := l.blobFiles("tmp"); len(files) != 0 {
		t.Errorf("partial files left: %v", files)
	}
}

func TestPipInstallsNonNormalizedNames(t *testing.T) {
	up := pypitest.New()
	defer up.Close()
	publishPython(up)
	l := startLarder(t, pypiConfig(up, ""))
	target := filepath.Join(t.TempDir(), "site")
	newPip(t, l.URL+"/pypi/simple/").mustRun("install", "--target", target, "Delta_Pkg", "delta.pkg==0.3.0")
	if got := installedDists(t, target); !strings.Contains(got, "0.3.0") {
		t.Errorf("installed %q", got)
	}
	for _, name := range []string{"Delta_Pkg", "delta.pkg", "DELTA-pkg"} {
		req, _ := http.NewRequest("GET", l.URL+"/pypi/simple/"+name+"/", nil)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/pypi/simple/delta-pkg/" {
			t.Errorf("%s: %d Location %q", name, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

func TestSimplePagesFollowPEP691AndPEP658(t *testing.T) {
	up := pypitest.New()
	defer up.Close()
	publishPython(up)
	l := startLarder(t, pypiConfig(up, ""))
	pipAccept := "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
	uvAccept := "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"

	resp, body := l.get(t, "/pypi/simple/gamma/", "Accept", pipAccept, "Cache-Control", "max-age=0")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.pypi.simple.v1+json" {
		t.Fatalf("pip's Accept: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if resp.Header.Get("Vary") == "" || !strings.Contains(resp.Header.Get("Vary"), "Accept") {
		t.Errorf("Vary %q", resp.Header.Get("Vary"))
	}
	if resp.Header.Get("X-PyPI-Last-Serial") == "" {
		t.Error("no X-PyPI-Last-Serial")
	}
	var page struct {
		Meta     map[string]any   `json:"meta"`
		Versions []string         `json:"versions"`
		Files    []map[string]any `json:"files"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	if page.Meta["api-version"] != "1.1" || len(page.Versions) != 2 || len(page.Files) != 2 {
		t.Errorf("page: %s", body)
	}
	for _, f := range page.Files {
		u := f["url"].(string)
		if !strings.HasPrefix(u, "/pypi/files/gamma/") || strings.Contains(u, "?") {
			t.Errorf("file URL %q is not path-only under /pypi/files/", u)
		}
		if _, bad := f["dist-info-metadata"]; bad {
			t.Error("JSON carries dist-info-metadata, which breaks pip 22.3-23.1")
		}
		if f["core-metadata"] == nil || f["size"] == nil || f["upload-time"] == nil {
			t.Errorf("file lacks core-metadata, size or upload-time: %v", f)
		}
		if strings.HasSuffix(u, "2.0.0-py3-none-any.whl") && f["yanked"] != "broken" {
			t.Errorf("yanked reason lost: %v", f["yanked"])
		}
	}
	// Inside the TTL, a client's max-age=0 does not send larder upstream.
	before := up.Count("index", "GET", "/simple/gamma/")
	for _, accept := range []string{pipAccept, uvAccept, "", "text/html", "*/*", "application/vnd.pypi.simple.v1+html", "image/png"} {
		resp, body := l.get(t, "/pypi/simple/gamma/", "Accept", accept, "Cache-Control", "max-age=0")
		want := "text/html; charset=utf-8"
		switch accept {
		case pipAccept, uvAccept:
			want = "application/vnd.pypi.simple.v1+json"
		case "application/vnd.pypi.simple.v1+html":
			want = accept
		}
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != want {
			t.Errorf("Accept %q: %d %q, want %q", accept, resp.StatusCode, resp.Header.Get("Content-Type"), want)
		}
		if strings.HasPrefix(want, "text/html") || strings.Contains(want, "html") {
			s := string(body)
			if !strings.Contains(s, `data-yanked="broken"`) || !strings.Contains(s, `data-core-metadata="sha256=`) || !strings.Contains(s, `data-dist-info-metadata="sha256=`) {
				t.Errorf("HTML page lacks yanked or metadata attributes:\n%s", s)
			}
		}
	}
	if after := up.Count("index", "GET", "/simple/gamma/"); after != before {
		t.Errorf("the upstream was asked %d more times inside the TTL", after-before)
	}
	_, alphaPage := l.get(t, "/pypi/simple/alpha/", "Accept", "text/html")
	if !strings.Contains(string(alphaPage), `data-requires-python="&gt;=3.8"`) {
		t.Errorf("requires-python not escaped right:\n%s", alphaPage)
	}

	// Files: metadata, HEAD, Range, immutable caching.
	wheel := pypitest.WheelFilename("gamma", "1.0.0")
	resp, meta := l.get(t, "/pypi/files/gamma/"+wheel+".metadata")
	if resp.StatusCode != 200 || string(meta) != string(pypitest.WheelMetadata("gamma", "1.0.0", nil, "")) {
		t.Errorf("metadata file: %d\n%s", resp.StatusCode, meta)
	}
	_, whl := pypitest.Wheel("gamma", "1.0.0", nil, "")
	req, _ := http.NewRequest(http.MethodHead, l.URL+"/pypi/files/gamma/"+wheel, nil)
	head, err := http.DefaultClient.Do(req)
	if err != nil || head.StatusCode != 200 || head.ContentLength != int64(len(whl)) {
		t.Errorf("HEAD: %v %v", err, head)
	}
	resp, part := l.get(t, "/pypi/files/gamma/"+wheel, "Range", "bytes=10-19")
	if resp.StatusCode != http.StatusPartialContent || string(part) != string(whl[10:20]) {
		t.Errorf("Range: %d %q", resp.StatusCode, part)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=365000000") || !strings.Contains(cc, "immutable") {
		t.Errorf("file Cache-Control %q", cc)
	}

	// Names and the unknown.
	if resp, _ := l.get(t, "/pypi/simple/no-such-project/"); resp.StatusCode != 404 {
		t.Errorf("unknown project: %d, want 404", resp.StatusCode)
	}
	if resp, _ := l.get(t, "/pypi/simple/bad%20name!/"); resp.StatusCode != 400 {
		t.Errorf("invalid name: %d, want 400", resp.StatusCode)
	}
	// The legacy JSON API, rewritten.
	resp, legacy := l.get(t, "/pypi/pypi/gamma/json")
	if resp.StatusCode != 200 || strings.Contains(string(legacy), up.FilesURL) || !strings.Contains(string(legacy), l.URL+"/pypi/files/gamma/") {
		t.Errorf("legacy JSON: %d\n%s", resp.StatusCode, legacy)
	}
	resp, _ = l.get(t, "/pypi/simple/", "Accept", "text/html")
	if resp.StatusCode != 200 {
		t.Errorf("root: %d", resp.StatusCode)
	}
}

func TestOfflinePagesListOnlyHeldFiles(t *testing.T) {
	up := pypitest.New()
	defer up.Close()
	publishPython(up)
	l := startLarder(t, pypiConfig(up, ""))
	target := filepath.Join(t.TempDir(), "site")
	newPip(t, l.URL+"/pypi/simple/").mustRun("install", "--target", target, "beta==1.0.0")
	up.AddWheel("beta", "1.5.0", nil, "") // published after: never cached
	l.restart("--offline")
	up.Reset()
	_, body := l.get(t, "/pypi/simple/beta/", "Accept", "text/html")
	if strings.Contains(string(body), "2.0.0") || !strings.Contains(string(body), "beta-1.0.0") {
		t.Errorf("offline page should list only the held beta 1.0.0:\n%s", body)
	}
	target = filepath.Join(t.TempDir(), "site")
	newPip(t, l.URL+"/pypi/simple/").mustRun("install", "--target", target, "beta")
	if got := installedDists(t, target); !strings.Contains(got, "beta-1.0.0") {
		t.Errorf("offline install of beta: %q", got)
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("offline larder made %d upstream requests", n)
	}
}

// An index without PEP 658 metadata files (many private ones): pip
// downloads each wheel to read its dependencies, then asks for their pages
// one at a time, a round trip each. larder reads the dependencies from the
// wheel it keeps and loads their pages together, so pip finds most of them
// held (HIT); each is still fetched from the upstream once.
func TestPipFromAnIndexWithoutMetadataFilesFindsDependencyPagesLoadedAhead(t *testing.T) {
	up := pypitest.New()
	defer up.Close()
	var deps []string
	for i := range 6 {
		name := fmt.Sprintf("dep%d", i)
		deps = append(deps, name+">=1")
		wheel, data := pypitest.Wheel(name, "1.0", nil, "")
		up.AddFile(name, wheel, data, pypitest.FileOpts{})
	}
	wheel, data := pypitest.Wheel("app", "1.0", deps, "")
	up.AddFile("app", wheel, data, pypitest.FileOpts{})
	// A round trip long enough that pip's sequence of them shows, and
	// larder's loads ahead finish before pip asks.
	up.SetDelay(100 * time.Millisecond)
	l := startLarder(t, pypiConfig(up, ""))

	target := filepath.Join(t.TempDir(), "site")
	newPip(t, l.URL+"/pypi/simple/").mustRun("install", "--target", target, "app")
	got := installedDists(t, target)
	for i := range 6 {
		if want := fmt.Sprintf("dep%d-1.0.dist-info", i); !strings.Contains(got, want) {
			t.Errorf("installed %q, want %s", got, want)
		}
	}
	requestsOnlyFromLarder(t, up)
	log := l.flushedLog()
	hits := 0
	for i := range 6 {
		page := fmt.Sprintf("/simple/dep%d/", i)
		if n := up.Count("index", http.MethodGet, page); n != 1 {
			t.Errorf("%s was asked of the upstream %d times, want once", page, n)
		}
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, "path=/pypi"+page+" ") && strings.Contains(line, "cache=HIT") {
				hits++
				break
			}
		}
	}
	// The first dependency's page is asked for as its load begins; by the
	// time pip has it and its wheel, the others are held.
	t.Logf("pip found %d of the 6 dependency pages held", hits)
	if hits < 4 {
		t.Errorf("pip found %d of the 6 dependency pages held, want at least 4 (loaded ahead from the app's wheel)\n%s", hits, log)
	}
}
