// Command larder is a protocol-aware mirror for package registries.
//
//	larder serve [--config larder.toml] [--listen ADDR] [--data DIR] [--offline]
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// serveUsage is serve's line of the usage text.
const serveUsage = "larder serve [--config FILE] [--listen ADDR] [--data DIR] [--offline]"

// usageTemplate is the usage text; its lists of kinds and lockfile formats
// come from the table of kinds (usage).
const usageTemplate = `larder: a protocol-aware mirror for package registries

usage:
  {{serve}}
  larder warm [--registry NAME] [--url URL | --data DIR | --config FILE] [--jobs N] [--token T] FILE...
  larder export --out FILE [--registry NAME] [--since DATE] [--lockfile FILE]... [--key FILE] [--data DIR | --config FILE]
  larder import FILE [--config FILE] [--data DIR] [--key FILE] [--max-manifest-size SIZE]
  larder verify [--shard K/N] [--data DIR | --config FILE]
  larder gc --max-size SIZE [--orphan-age DURATION] [-v] [--data DIR | --config FILE]
  larder migrate [--check] [--data DIR | --config FILE]

  serve    run the mirror (default: 127.0.0.1:7070, data in ./larder-data, {{mounts}})
  warm     fetch everything lockfiles name into the cache ({{lockfiles}})
  export   write cached metadata and artifacts to one archive, to carry across an air gap
  import   load an archive into a data folder; every digest, URL and signature is checked before anything is kept
  verify   re-hash every blob; quarantine corrupt ones so they are fetched again; non-zero exit on any problem;
           --shard K/N checks part K of N (by digest), for several nodes to split the work
  gc       evict the least recently served artifacts until the cache fits SIZE
  migrate  bring the database's schema up to date and exit (serve does it at start too);
           --check applies nothing and exits 3 when migrations are pending

  gc, verify and export work through the running larder that holds the data folder, if one does.

kinds: {{kinds}}
`

// usage is the usage text, with the kinds larder mounts by default, the
// kinds it knows and the lockfile formats they read.
func usage() string {
	var mounts []string
	for _, rc := range defaultRegistries() {
		mounts = append(mounts, rc.Kind+" at /"+rc.Name+"/")
	}
	lockfiles := wrapList(lockfileFormats(), len("  warm     fetch everything lockfiles name into the cache ("), 11, 100)
	return strings.NewReplacer("{{serve}}", serveUsage, "{{mounts}}", strings.Join(mounts, ", "), "{{lockfiles}}", lockfiles, "{{kinds}}", knownKinds()).Replace(usageTemplate)
}

// wrapList joins items with ", ", starting at column first and breaking
// lines before width onto lines indented by indent.
func wrapList(items []string, first, indent, width int) string {
	var b strings.Builder
	col := first
	for i, it := range items {
		sep := ""
		if i > 0 {
			sep = ", "
			if col+len(sep)+len(it)+1 > width {
				b.WriteString(",\n" + strings.Repeat(" ", indent))
				col, sep = indent, ""
			}
		}
		b.WriteString(sep + it)
		col += len(sep) + len(it)
	}
	return b.String()
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage())
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
	case "migrate":
		err = runMigrate(os.Args[2:])
	case "help", "-h", "--help":
		fmt.Print(usage())
		return
	default:
		fmt.Fprintf(os.Stderr, "larder: unknown command %q\n\n%s", os.Args[1], usage())
		os.Exit(2)
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		// The subcommand printed its usage: asked for, not a failure.
	case err != nil:
		fmt.Fprintln(os.Stderr, "larder:", err)
		// An error may carry a status of its own (migrate --check's
		// "pending", apart from a failure).
		var coded interface{ ExitCode() int }
		if errors.As(err, &coded) {
			os.Exit(coded.ExitCode())
		}
		os.Exit(1)
	}
}
