/**
 * How ferry reads YAML, on the server (functions/api/body.ts) and in the CLI (cli/manifests.ts)
 * alike: as Kubernetes' tools read it. kubectl and the API server decode YAML with
 * sigs.k8s.io/yaml, i.e. go-yaml v2, whose scalars are YAML 1.1's: `0755` is octal, `yes`/`no`/
 * `on`/`off`/`y`/`n` are booleans, `<<` merges. But go-yaml v2 leaves timestamps as strings when
 * decoding into JSON, and knows no sexagesimal numbers (`12:30`), `!!binary`, `!!set`, `!!omap` or
 * `!!pairs` as values: those tags of the yaml library's 1.1 schema are left out.
 * Only a type comes from `yaml`: this file adds no dependency to schemas/.
 */
import type { Tags } from 'yaml';

const NOT_IN_GO_YAML_V2 = new Set([
  'tag:yaml.org,2002:timestamp',
  'tag:yaml.org,2002:binary',
  'tag:yaml.org,2002:omap',
  'tag:yaml.org,2002:pairs',
  'tag:yaml.org,2002:set',
]);

/** Options for `parse`/`parseAllDocuments` of the yaml library. */
export const KUBERNETES_YAML = {
  version: '1.1',
  customTags: (tags: Tags): Tags =>
    tags.filter((t) =>
      typeof t === 'string' ? !NOT_IN_GO_YAML_V2.has(t) : t.format !== 'TIME' && !NOT_IN_GO_YAML_V2.has(t.tag),
    ),
} as const;
