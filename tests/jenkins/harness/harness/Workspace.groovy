package harness

import groovy.json.JsonSlurperClassic

/**
 * Files in a node's workspace: `checkout` (scenario.scm for `checkout scm`, scenario.scmCheckouts by
 * URL for a GitSCM checkout; their entries are linked into the current directory), Ant-style globs for
 * junit/archiveArtifacts, stash/unstash between node allocations, and YAML through the Python the tests
 * run with (pipeline-utility-steps reads YAML with SnakeYAML, which Debian's groovy does not ship).
 */
class Workspace {
    static void checkout(Build build, Object scm) {
        File cwd = build.cwd('checkout')
        String source
        String what
        if (scm instanceof Map && (scm as Map).kind == 'scm') {
            what = 'scm'
            source = build.scenario.scm
        } else {
            Map git = scm as Map
            what = ((git.userRemoteConfigs ?: [[:]]) as List<Map>)[0].url
            source = ((build.scenario.scmCheckouts ?: [:]) as Map)[what]
        }
        build.record('checkout', [scm: what, branches: scm instanceof Map ? (scm as Map).branches : null])
        if (source) {
            new File(source).listFiles().each { File entry ->
                File link = new File(cwd, entry.name)
                if (!link.exists()) {
                    java.nio.file.Files.createSymbolicLink(link.toPath(), entry.toPath())
                }
            }
        }
    }

    static List<String> glob(File root, String patterns) {
        List<String> found = []
        (patterns ?: '').tokenize(',')*.trim().each { String pattern ->
            String regex = antRegex(pattern)
            String prefix = pattern.contains('*') ? pattern.substring(0, pattern.indexOf('*')) : pattern
            File start = new File(root, prefix.contains('/') ? prefix.substring(0, prefix.lastIndexOf('/')) : '.')
            walk(start, root.canonicalFile.toPath(), 8).each { String rel ->
                if (rel ==~ regex && !found.contains(rel)) {
                    found << rel
                }
            }
        }
        return found.sort()
    }

    // An Ant pattern (**/ ** * ?; everything else literal: $(, quotes and all) as a regex.
    static String antRegex(String pattern) {
        StringBuilder regex = new StringBuilder()
        int i = 0
        while (i < pattern.length()) {
            if (pattern.startsWith('**/', i)) {
                regex << '(?:.*/)?'
                i += 3
            } else if (pattern.startsWith('**', i)) {
                regex << '.*'
                i += 2
            } else if (pattern[i] == '*') {
                regex << '[^/]*'
                i++
            } else if (pattern[i] == '?') {
                regex << '[^/]'
                i++
            } else {
                regex << java.util.regex.Pattern.quote(pattern[i])
                i++
            }
        }
        return regex.toString()
    }

    private static List<String> walk(File dir, java.nio.file.Path root, int depth) {
        List<String> files = []
        if (depth == 0 || !dir.isDirectory()) {
            return files
        }
        dir.listFiles().each { File f ->
            if (f.isDirectory()) {
                files.addAll(walk(f, root, depth - 1))
            } else {
                files << root.relativize(f.toPath().toAbsolutePath().normalize()).toString()
            }
        }
        return files
    }

    /**
     * workflow-api StashManager, per build: the name must be a good Jenkins name (Jenkins.checkGoodName); the files
     * are `includes` (default everything) minus `excludes`; none is an AbortException "No files included in stash"
     * unless allowEmpty; a second stash of the same name replaces the first ("Warning: overwriting stash").
     * unstash of a name never stashed in this build: AbortException "No such saved stash ‘NAME’".
     */
    static void stash(Build build, Map args) {
        String name = args.name as String
        checkGoodName(name)
        File cwd = build.cwd('stash')
        List<String> excluded = args.excludes ? glob(cwd, args.excludes as String) : []
        Map<String, byte[]> files = [:]
        glob(cwd, (args.includes ?: '**') as String).findAll { !excluded.contains(it) }.each { files[it] = new File(cwd, it).bytes }
        if (!files && !args.allowEmpty) {
            build.record('stash', [name: name, files: [], failed: true])
            throw new hudson.AbortException('No files included in stash')
        }
        if (build.stashes.containsKey(name)) {
            build.log("Warning: overwriting stash ‘${name}’".toString())
        }
        build.stashes[name] = files
        build.log("Stashed ${files.size()} file(s)".toString())
        build.record('stash', [name: name, files: files.keySet().sort()])
    }

    static void unstash(Build build, String name) {
        checkGoodName(name)
        File cwd = build.cwd('unstash')
        Map<String, byte[]> files = build.stashes[name] as Map<String, byte[]>
        if (files == null) {
            build.record('unstash', [name: name, failed: true])
            throw new hudson.AbortException("No such saved stash ‘${name}’")
        }
        files.each { rel, bytes ->
            File target = new File(cwd, rel)
            target.parentFile.mkdirs()
            target.bytes = bytes
        }
        build.record('unstash', [name: name, files: files.keySet().sort()])
    }

    /** Jenkins.checkGoodName: not empty, not . or .., none of ?*\/%!@#$^&|<>[]:; (Failure: "is an unsafe character"). */
    static void checkGoodName(String name) {
        if (!name?.trim() || name == '.' || name == '..') {
            throw new IllegalArgumentException("stash name must not be empty, . or ..: '${name}'")
        }
        Character bad = name.toCharArray().find { '?*/\\%!@#$^&|<>[]:;'.indexOf(it as int) >= 0 } as Character
        if (bad != null) {
            throw new IllegalArgumentException("‘${bad}’ is an unsafe character")
        }
    }

    static Object yaml(String text) {
        Process p = new ProcessBuilder('python3', '-c',
            'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))').start()
        p.outputStream.withWriter('UTF-8') { it << text }
        String out = p.inputStream.getText('UTF-8')
        if (p.waitFor() != 0) {
            throw new IllegalArgumentException("readYaml: not YAML: ${p.errorStream.text}")
        }
        return new JsonSlurperClassic().parseText(out)
    }
}
