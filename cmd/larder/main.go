// Command larder is a protocol-aware mirror for package registries.
//
//	larder serve [--config larder.toml] [--listen ADDR] [--data DIR] [--offline]
package main

import (
	"fmt"
	"os"
)

const usage = `larder: a protocol-aware mirror for package registries

usage:
  larder serve [--config FILE] [--listen ADDR] [--data DIR] [--offline]
  larder warm [--registry NAME] [--url URL | --data DIR | --config FILE] [--jobs N] [--token T] FILE...
  larder export --out FILE [--registry NAME] [--since DATE] [--lockfile FILE]... [--key FILE] [--data DIR | --config FILE]
  larder import FILE [--config FILE] [--data DIR] [--key FILE] [--max-manifest-size SIZE]
  larder verify [--data DIR | --config FILE]
  larder gc --max-size SIZE [--orphan-age DURATION] [-v] [--data DIR | --config FILE]

  serve    run the mirror (default: 127.0.0.1:7070, data in ./larder-data, npm at /npm/, PyPI at /pypi/)
  warm     fetch everything lockfiles name into the cache (package-lock.json, npm-shrinkwrap.json,
           yarn.lock, pnpm-lock.yaml, requirements.txt, pylock.toml)
  export   write cached metadata and artifacts to one archive, to carry across an air gap
  import   load an archive into a data folder; every digest, URL and signature is checked before anything is kept
  verify   re-hash every blob; quarantine corrupt ones so they are fetched again; non-zero exit on any problem
  gc       evict the least recently served artifacts until the cache fits SIZE
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "warm":
		err = runWarm(os.Args[2:])
	case "export":
		err = runExport(os.Args[2:])
	case "import":
		err = runImport(os.Args[2:])
	case "verify":
		err = runVerify(os.Args[2:])
	case "gc":
		err = runGC(os.Args[2:])
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "larder: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "larder:", err)
		os.Exit(1)
	}
}
