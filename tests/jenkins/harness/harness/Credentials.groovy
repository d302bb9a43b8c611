package harness

import hudson.AbortException

/**
 * Credentials lookup as the credentials plugin does it for a build: the system store (folder '') is
 * visible to every job, a folder's store only to the items inside that folder (cloudbees-folder
 * FolderCredentialsProvider). A missing id fails the step like credentials-binding does.
 */
class Credentials {
    static Map find(Build build, String id) {
        Map known = ((build.scenario.credentials ?: [:]) as Map)[id] as Map
        String folder = known?.folder ?: ''
        boolean visible = known != null && (folder == '' || build.job.startsWith(folder + '/'))
        build.record('credentialsLookup', [id: id, found: visible])
        if (!visible) {
            throw new AbortException("Could not find credentials entry with ID '${id}'")
        }
        return known
    }
}
