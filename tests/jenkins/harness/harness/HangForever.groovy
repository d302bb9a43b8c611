package harness

/** A step waited with no timeout around it: on Jenkins the build would never end. Ends the scenario. */
class HangForever extends Error {
    HangForever(String what) {
        super("hangs forever: ${what} waits with no timeout around it")
    }
}
