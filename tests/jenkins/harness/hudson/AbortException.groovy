package hudson

/** Stands in for Jenkins core's hudson.AbortException: what `error` and a failing `sh` throw. */
class AbortException extends IOException {
    AbortException(String message) {
        super(message)
    }
}
