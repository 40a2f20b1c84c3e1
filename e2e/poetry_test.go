package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/larder-mirror/larder/pypi/pypitest"
)

// poetryProject is a poetry project whose only package source is larder,
// run with nothing of this machine's pip, poetry or proxy set-up and with
// its own HOME, cache and config folders.
type poetryProject struct {
	t   *testing.T
	ctx context.Context // the whole test's deadline
	dir string
	env []string
}

// poetryPyproject depends on alpha (which depends on beta, whose newest
// release requires Python >= 4), gamma (whose newest release is yanked) and
// zeta (an sdist only, which depends on Delta_Pkg, a name to normalize).
// SOURCE is the line that makes larder the sole source.
const poetryPyproject = `[tool.poetry]
name = "app"
version = "0.1.0"
description = "a project installed through larder"
authors = ["larder <larder@example.invalid>"]

[tool.poetry.dependencies]
python = "^3.8"
alpha = "1.0.0"
gamma = "*"
zeta = "*"

[[tool.poetry.source]]
name = "larder"
url = "INDEX"
SOURCE

[build-system]
requires = ["poetry-core"]
build-backend = "poetry.core.masonry.api"
`

// poetryEnv is this process's environment without anything that would
// change what poetry (or the pip it runs for sdists) reads, with HOME,
// caches and config under home. A pip that poetry runs without --isolated
// is pointed at index: poetry 1.3 pip-installs build tools from PyPI to
// read an sdist whose PKG-INFO lists no Requires-Dist, and this keeps such
// a request on the loopback, in larder's log.
func poetryEnv(home, index string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "PIP_"), strings.HasPrefix(name, "POETRY_"), strings.HasPrefix(name, "XDG_"),
			strings.HasPrefix(name, "CONDA_"),
			strings.EqualFold(name, "http_proxy"), strings.EqualFold(name, "https_proxy"), strings.EqualFold(name, "all_proxy"),
			name == "HOME", name == "VIRTUAL_ENV", name == "PYTHONPATH", name == "PYTHONHOME", name == "PYTHONUSERBASE":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"XDG_DATA_HOME="+filepath.Join(home, ".local", "share"),
		"POETRY_CACHE_DIR="+filepath.Join(home, "poetry-cache"),
		"POETRY_CONFIG_DIR="+filepath.Join(home, "poetry-config"),
		"POETRY_VIRTUALENVS_IN_PROJECT=true",
		"POETRY_NO_INTERACTION=1",
		"PIP_CONFIG_FILE=/dev/null",
		"PIP_INDEX_URL="+index,
		"PIP_DISABLE_PIP_VERSION_CHECK=1",
		"PIP_RETRIES=0",
		"PIP_DEFAULT_TIMEOUT=20",
		// A desktop keyring would be asked for the source's credentials.
		"PYTHON_KEYRING_BACKEND=keyring.backends.null.Keyring",
	)
}

// poetrySourceLine is how the installed poetry spells "this source and no
// other": `default = true` up to 1.4 (Debian 12 ships 1.3), which also
// deactivates PyPI; `priority = "primary"` from 1.5 on, where `default` is
// deprecated and later removed.
func poetrySourceLine(ctx context.Context, t *testing.T, index string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "poetry", "--version", "--no-ansi")
	cmd.Env = poetryEnv(t.TempDir(), index)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("poetry --version: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`(\d+)\.(\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("poetry --version: no version in %q", out)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	t.Logf("poetry %s", strings.TrimSpace(string(out)))
	if major > 1 || minor >= 5 {
		return `priority = "primary"`
	}
	return `default = true`
}

// newPoetryProject writes pyproject in a new folder and creates the
// project's virtualenv (.venv) in a run of its own: creating it
// re-configures logging in poetry 1.3's process, and that run's -vvv
// output then lacks urllib3's request lines.
func newPoetryProject(ctx context.Context, t *testing.T, index, pyproject string) *poetryProject {
	t.Helper()
	p := &poetryProject{t: t, ctx: ctx, dir: t.TempDir(), env: poetryEnv(t.TempDir(), index)}
	p.write("pyproject.toml", pyproject)
	p.poetry("env", "use", "python3")
	return p
}

func (p *poetryProject) write(name, content string) {
	p.t.Helper()
	if err := os.WriteFile(filepath.Join(p.dir, name), []byte(content), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func (p *poetryProject) read(name string) string {
	p.t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dir, name))
	if err != nil {
		p.t.Fatal(err)
	}
	return string(b)
}

// command runs name in the project with the project's environment, bounded
// by two minutes and by the test's deadline.
func (p *poetryProject) command(name string, args ...string) (string, error) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = p.dir, p.env
	cmd.WaitDelay = 10 * time.Second // pip, run by poetry for the sdist, may hold the output open
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// poetry runs a poetry command with -vvv, whose output names every URL
// poetry fetches, and fails the test when it fails.
func (p *poetryProject) poetry(args ...string) string {
	p.t.Helper()
	start := time.Now()
	out, err := p.command("poetry", append(args, "--no-interaction", "--no-ansi", "-vvv")...)
	if err != nil {
		p.t.Fatalf("poetry %s: %v\n%s", strings.Join(args, " "), err, tail(out, 150))
	}
	p.t.Logf("poetry %s: %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return out
}

// installed lists the dist-info folders in the project's virtualenv.
func (p *poetryProject) installed() string {
	p.t.Helper()
	matches, _ := filepath.Glob(filepath.Join(p.dir, ".venv", "lib", "python3*", "site-packages", "*.dist-info"))
	var names []string
	for _, m := range matches {
		names = append(names, filepath.Base(m))
	}
	return strings.Join(names, " ")
}

// poetryWant is a release poetry must lock and install, and its one file.
type poetryWant struct {
	project, version, filename string // project: the normalized name
	data                       []byte
}

// module is the wheel's dist-info prefix and top-level package.
func (w poetryWant) module() string { return strings.ReplaceAll(w.project, "-", "_") }

// poetryWants are the releases the resolver must pick: beta 2.0.0 requires
// Python >= 4 and gamma 2.0.0 is yanked.
var poetryWants = []poetryWant{
	{"alpha", "1.0.0", pypitest.WheelFilename("alpha", "1.0.0"), wheelBytes("alpha", "1.0.0", []string{"beta>=1.0"}, ">=3.8")},
	{"beta", "1.0.0", pypitest.WheelFilename("beta", "1.0.0"), wheelBytes("beta", "1.0.0", nil, "")},
	{"gamma", "1.0.0", pypitest.WheelFilename("gamma", "1.0.0"), wheelBytes("gamma", "1.0.0", nil, "")},
	{"zeta", "1.0.0", pypitest.SdistFilename("zeta", "1.0.0"), sdistBytes("zeta", "1.0.0", zetaRequires)},
	{"delta-pkg", "0.3.0", pypitest.WheelFilename("Delta_Pkg", "0.3.0"), wheelBytes("Delta_Pkg", "0.3.0", nil, "")},
}

var zetaRequires = []string{"Delta_Pkg>=0.3"}

// checkInstalled asserts that the project's virtualenv holds the wanted
// releases, importable from the virtualenv with their versions.
func (p *poetryProject) checkInstalled(what string) {
	p.t.Helper()
	got := p.installed()
	for _, w := range poetryWants {
		if !strings.Contains(got, w.module()+"-"+w.version+".dist-info") {
			p.t.Errorf("%s: .venv holds %q, want %s %s", what, got, w.project, w.version)
		}
	}
	if strings.Contains(got, "-2.0.0.dist-info") {
		p.t.Errorf("%s: .venv holds a 2.0.0 release (yanked or for Python >= 4): %q", what, got)
	}
	var names []string
	for _, w := range poetryWants {
		names = append(names, w.module())
	}
	script := fmt.Sprintf(`import sys
for name in %q.split():
    m = __import__(name)
    assert m.__file__.startswith(sys.prefix + "/"), (name, m.__file__, sys.prefix)
    print(name + "==" + m.__version__)
`, strings.Join(names, " "))
	out, err := p.command(filepath.Join(p.dir, ".venv", "bin", "python"), "-I", "-c", script)
	if err != nil {
		p.t.Errorf("%s: importing from .venv: %v\n%s", what, err, out)
		return
	}
	for _, w := range poetryWants {
		if !strings.Contains(out, w.module()+"=="+w.version+"\n") {
			p.t.Errorf("%s: imported %q, want %s==%s", what, out, w.module(), w.version)
		}
	}
}

var (
	urlRE         = regexp.MustCompile(`https?://[^\s"'<>()\[\]]+`)
	requestLineRE = regexp.MustCompile(`(https?://\S+) "[A-Z]+ (\S+) HTTP/`)
)

// onlyLarderURLs asserts that every URL in a poetry command's output (with
// -vvv: every index page and file poetry looked up or fetched) is larder's,
// and that the output names neither of the upstream's hosts nor PyPI.
func onlyLarderURLs(t *testing.T, what, out string, l *larder, up *pypitest.Server) {
	t.Helper()
	for _, u := range urlRE.FindAllString(out, -1) {
		// urllib3's request lines name the host alone: `http://h:p "GET /path HTTP/1.1" 200`.
		if u != l.URL && !strings.HasPrefix(u, l.URL+"/pypi/") {
			t.Errorf("%s: poetry's output names %s, which is not larder's", what, u)
		}
	}
	for _, m := range requestLineRE.FindAllStringSubmatch(out, -1) {
		if !strings.HasPrefix(m[2], "/pypi/") {
			t.Errorf("%s: poetry fetched %s%s, outside larder's /pypi/", what, m[1], m[2])
		}
	}
	for _, host := range []string{hostOf(up.IndexURL), hostOf(up.FilesURL), "pypi.org", "pythonhosted.org"} {
		if strings.Contains(out, host) {
			t.Errorf("%s: poetry's output names %s", what, host)
		}
	}
}

// fetchedAll asserts that poetry's output (with -vvv, urllib3 logs every
// request it sends) shows a download of each wanted file from larder.
func fetchedAll(t *testing.T, what, out string, l *larder) {
	t.Helper()
	got := map[string]bool{}
	for _, m := range requestLineRE.FindAllStringSubmatch(out, -1) {
		if m[1] == l.URL {
			got[m[2]] = true
		}
	}
	for _, w := range poetryWants {
		if path := "/pypi/files/" + w.project + "/" + w.filename; !got[path] {
			t.Errorf("%s: poetry's output shows no GET %s%s", what, l.URL, path)
		}
	}
}

// loggedSince waits briefly for s to appear in larder's log after its
// first mark bytes (larder writes its log in batches).
func loggedSince(l *larder, mark int, s string) bool {
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if strings.Contains(l.log.String()[mark:], s) {
			return true
		}
	}
	return false
}

// hostOf is a URL's host:port.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		panic("hostOf: " + raw)
	}
	return u.Host
}

func TestPoetryLocksAndInstallsThroughLarderAndAgainOffline(t *testing.T) {
	requireTool(t, "poetry") // the test command installs Debian's python3-poetry
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	up := pypitest.New()
	defer up.Close()
	publishPython(up)
	up.AddSdist("zeta", "1.0.0", zetaRequires)
	l := startLarder(t, pypiConfig(up, ""))
	index := l.URL + "/pypi/simple/"
	pyproject := strings.NewReplacer("INDEX", index, "SOURCE", poetrySourceLine(ctx, t, index)).Replace(poetryPyproject)

	// Lock and install through larder.
	p := newPoetryProject(ctx, t, index, pyproject)
	lockOut := p.poetry("lock")
	lock := p.read("poetry.lock")
	for _, w := range poetryWants {
		for _, want := range []string{
			`name = "` + w.project + `"` + "\n" + `version = "` + w.version + `"`,
			`{file = "` + w.filename + `", hash = "sha256:` + sha(w.data) + `"}`,
		} {
			if !strings.Contains(lock, want) {
				t.Errorf("poetry.lock lacks %q:\n%s", want, lock)
			}
		}
	}
	if strings.Contains(lock, `version = "2.0.0"`) {
		t.Errorf("poetry.lock chose a 2.0.0 release (yanked, or for Python >= 4):\n%s", lock)
	}
	// Every package's source is larder (poetry 1.3 drops the final slash).
	if n, want := strings.Count(lock, `url = "`+strings.TrimSuffix(index, "/")), len(poetryWants); n != want {
		t.Errorf("poetry.lock names larder as the source of %d packages, want %d:\n%s", n, want, lock)
	}
	onlyLarderURLs(t, "poetry lock", lockOut+lock, l, up)

	installOut := p.poetry("install", "--no-root")
	onlyLarderURLs(t, "poetry install", installOut, l, up)
	fetchedAll(t, "poetry install", installOut, l)
	p.checkInstalled("poetry install")
	for _, w := range poetryWants {
		// poetry fetched the file from larder, which fetched it upstream once.
		if path := "path=/pypi/files/" + w.project + "/" + w.filename + " status=200"; !l.logged(path) {
			t.Errorf("larder's log has no %s", path)
		}
		filesPath := strings.TrimPrefix(up.FileURL(w.filename), strings.TrimSuffix(up.FilesURL, "/"))
		if n := up.Count("files", "GET", filesPath); n != 1 {
			t.Errorf("the upstream files host served %s %d times, want once (to larder)", w.filename, n)
		}
	}
	if n := up.Count("files", "GET", strings.TrimPrefix(up.FileURL(pypitest.WheelFilename("gamma", "2.0.0")), strings.TrimSuffix(up.FilesURL, "/"))); n != 0 {
		t.Errorf("the yanked gamma 2.0.0 was downloaded %d times", n)
	}
	requestsOnlyFromLarder(t, up)
	if after := p.read("poetry.lock"); after != lock {
		t.Errorf("poetry install changed poetry.lock:\n%s", after)
	}

	// The lock file again, in a new project with empty poetry caches, with
	// the upstream refusing connections and larder offline: everything
	// comes from larder's cache.
	up.SetMode(pypitest.ModeRefuse)
	up.Reset()
	l.restart("--offline")
	again := newPoetryProject(ctx, t, index, pyproject)
	again.write("poetry.lock", lock)
	mark := len(l.log.String())
	offlineOut := again.poetry("install", "--no-root")
	onlyLarderURLs(t, "offline poetry install", offlineOut, l, up)
	fetchedAll(t, "offline poetry install", offlineOut, l)
	again.checkInstalled("offline poetry install from the lock file")
	for _, w := range poetryWants {
		if line := "path=/pypi/files/" + w.project + "/" + w.filename + " status=200 bytes=" + strconv.Itoa(len(w.data)) + " cache=HIT"; !loggedSince(l, mark, line) {
			t.Errorf("larder's log has no %s after going offline", line)
		}
	}
	if reqs := up.Requests(); len(reqs) != 0 {
		t.Errorf("the upstream got %d requests while larder was offline", len(reqs))
	}
	l.stop() // flushes larder's log
	onlyWantedProjects(t, l)
}

var larderPathRE = regexp.MustCompile(` path=(\S+) status=(\d+)`)

// onlyWantedProjects asserts that larder was asked only for the pages and
// files of the projects in play (beta's too-new release included), each
// answered 200: nothing else, such as the build tools poetry 1.3
// pip-installs to read an sdist without Requires-Dist. Call it with larder
// stopped, its log complete.
func onlyWantedProjects(t *testing.T, l *larder) {
	t.Helper()
	for _, m := range larderPathRE.FindAllStringSubmatch(l.log.String(), -1) {
		path, status := m[1], m[2]
		if path == "/readyz" {
			continue
		}
		ok := false
		for _, w := range poetryWants {
			if strings.HasPrefix(path, "/pypi/simple/"+w.project+"/") || strings.HasPrefix(path, "/pypi/files/"+w.project+"/") {
				ok = true
			}
		}
		if !ok || status != "200" {
			t.Errorf("larder was asked for %s (%s), which is not a page or file of the projects in play", path, status)
		}
	}
}

func wheelBytes(name, version string, requires []string, requiresPython string) []byte {
	_, data := pypitest.Wheel(name, version, requires, requiresPython)
	return data
}

func sdistBytes(name, version string, requires []string) []byte {
	_, data := pypitest.Sdist(name, version, requires)
	return data
}
