package maven

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/larder-mirror/larder/registries"
)

// ClientSetup is Maven's and Gradle's set-up for this mirror. In a
// settings script Gradle takes pluginManagement {} only as the first
// block: the snippets open with it.
func (g *Registry) ClientSetup(baseURL string) []registries.Snippet {
	insecure, kotlinInsecure := "", ""
	if u, err := url.Parse(baseURL); err == nil && u.Scheme == "http" {
		insecure = "\n        allowInsecureProtocol = true"
		kotlinInsecure = "\n        isAllowInsecureProtocol = true"
	}
	return []registries.Snippet{
		{
			Client: "Maven (~/.m2/settings.xml)",
			Shell: `<settings>
  <mirrors>
    <mirror>
      <id>larder</id>
      <mirrorOf>*</mirrorOf>
      <url>` + baseURL + `</url>
    </mirror>
  </mirrors>
</settings>`,
			Note: "Every repository through larder, plugins included. Keep Maven's default checksum policy: larder serves the checksums of the bytes it serves.",
		},
		{
			Client: "Gradle (settings.gradle, Groovy DSL)",
			Shell: `pluginManagement {
    repositories {
        maven {
            url "` + baseURL + `"` + insecure + `
        }
    }
}
dependencyResolutionManagement {
    repositories {
        maven {
            url "` + baseURL + `"` + insecure + `
        }
    }
}`,
			Note: "allowInsecureProtocol is needed while larder is reached over plain HTTP.",
		},
		{
			Client: "Gradle (settings.gradle.kts, Kotlin DSL)",
			Shell: `pluginManagement {
    repositories {
        maven {
            url = uri("` + baseURL + `")` + kotlinInsecure + `
        }
    }
}
dependencyResolutionManagement {
    repositories {
        maven {
            url = uri("` + baseURL + `")` + kotlinInsecure + `
        }
    }
}`,
		},
	}
}

// Describe tells the UI what larder holds of an artifact ("group:artifact"):
// its versions (those of the metadata it holds, and those with files held),
// newest first, with their files.
func (g *Registry) Describe(ctx context.Context, name string) (registries.PackageInfo, error) {
	info := registries.PackageInfo{Registry: g.name, Name: name}
	group, artifact, ok := strings.Cut(name, ":")
	if !ok {
		return info, fmt.Errorf("%s: %w", name, registries.ErrNotFound)
	}
	versions := map[string]*registries.VersionInfo{}
	if doc, err := g.up.Cached(ctx, name, variantMetadata); err == nil {
		info.MetadataFetched = doc.FetchedAt
		if body, err := g.up.Body(ctx, doc); err == nil {
			if m, err := parseMetadata(body); err == nil && m.Versioning != nil && m.Versioning.Versions != nil {
				for _, v := range m.Versioning.Versions.Version {
					versions[v] = &registries.VersionInfo{Version: v}
				}
			}
		}
	}
	arts, err := g.up.Store().PackageArtifacts(ctx, g.name, name)
	if err != nil {
		return info, err
	}
	for _, a := range arts {
		vi := versions[a.Version]
		if vi == nil {
			vi = &registries.VersionInfo{Version: a.Version}
			versions[a.Version] = vi
		}
		vi.Cached = vi.Cached || a.Cached()
		vi.Files = append(vi.Files, registries.FileInfoOf(a))
	}
	if len(versions) == 0 {
		return info, fmt.Errorf("%s: %w", name, registries.ErrNotFound)
	}
	for _, vi := range versions {
		vi.Install = "<dependency><groupId>" + group + "</groupId><artifactId>" + artifact + "</artifactId><version>" + vi.Version + "</version></dependency>"
		slices.SortFunc(vi.Files, func(a, b registries.FileInfo) int { return strings.Compare(a.Name, b.Name) })
		info.Versions = append(info.Versions, *vi)
	}
	slices.SortFunc(info.Versions, func(a, b registries.VersionInfo) int { return compareVersions(b.Version, a.Version) })
	return info, nil
}
