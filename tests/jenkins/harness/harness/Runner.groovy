package harness

import groovy.json.JsonOutput
import org.codehaus.groovy.ast.ClassNode
import org.codehaus.groovy.ast.expr.DeclarationExpression
import org.codehaus.groovy.ast.expr.VariableExpression
import org.codehaus.groovy.ast.stmt.ExpressionStatement
import org.codehaus.groovy.classgen.GeneratorContext
import org.codehaus.groovy.control.CompilationFailedException
import org.codehaus.groovy.control.CompilePhase
import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.control.SourceUnit
import org.codehaus.groovy.control.customizers.CompilationCustomizer
import org.codehaus.groovy.control.customizers.ImportCustomizer
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

/** Runs one scenario: compiles the Jenkinsfile (or inline script) as Jenkins would and plays the build. */
class Runner {
    static Map run(Map scenario) {
        Build build = new Build(scenario)
        Map out = [name: scenario.name, job: build.job]
        try {
            File root = new File(scenario.root as String)
            GroovyShell shell = shell(scenario, root)
            Library library = new Library(build, shell, scenario.libraryRoot ? new File(scenario.libraryRoot as String) : root)
            String text = scenario.script ?: new File(root, scenario.jenkinsfile as String).getText('UTF-8')
            if (text =~ /(?m)^\s*@Library\(/) {
                library.load('@Library')
            }
            PipelineScript script = (PipelineScript) instance(shell, text, 'WorkflowScript')
            script.setState(build)
            script.setLib(library)
            build.params.putAll((scenario.scriptParams ?: [:]) as Map)
            Object value = script.run()
            out.value = plain(value)
        } catch (FlowInterruptedException interrupted) {
            build.worsen(interrupted.result)
            out.error = "FlowInterruptedException: ${interrupted.causes.join('; ')}".toString()
        } catch (HangForever hang) {
            out.hung = hang.message
        } catch (Throwable failure) {
            build.worsen('FAILURE')
            out.error = failure.toString()
        }
        out.result = out.hung ? 'HUNG' : build.resultOrSuccess
        out.events = build.events
        out.stages = build.stages
        out.params = build.params
        out.description = build.description
        out.buildVariables = build.envAssigned
        out.log = build.log.toString() + (out.error ? "ERROR: ${out.error}\n" : '')
        return out
    }

    private static final Map<String, GroovyShell> SHELLS = [:]
    private static final Map<String, Class> CLASSES = [:]

    /**
     * One compiler per configuration for the whole JVM: scenarios share compiled classes (a Jenkinsfile or a
     * vars/ script compiles once, not once per build), while every build gets its own script instances.
     */
    static GroovyShell shell(Map scenario, File root) {
        String key = "${scenario.libraryRoot ?: root.path}|${scenario.splitting as boolean}"
        if (!SHELLS.containsKey(key)) {
            SHELLS[key] = new GroovyShell(Runner.classLoader, new Binding(), configuration(scenario, root))
        }
        return SHELLS[key]
    }

    /** A new instance of the script compiled from `text` (compiled once per shell and text). */
    static Script instance(GroovyShell shell, String text, String name) {
        String key = "${System.identityHashCode(shell)}|${name}|${text}"
        if (!CLASSES.containsKey(key)) {
            CLASSES[key] = shell.classLoader.parseClass(text, "${name}.groovy")
        }
        return org.codehaus.groovy.runtime.InvokerHelper.createScript(CLASSES[key], new Binding())
    }

    /** Anything JSON can carry, else its string form. */
    static Object plain(Object value) {
        try {
            JsonOutput.toJson([v: value])
            return value
        } catch (Throwable ignored) {
            return value?.toString()
        }
    }

    static CompilerConfiguration configuration(Map scenario, File root) {
        CompilerConfiguration config = new CompilerConfiguration()
        config.scriptBaseClass = PipelineScript.name
        String libraryRoot = scenario.libraryRoot ?: root.path
        config.classpathList = [new File(libraryRoot, 'src').path]
        ImportCustomizer imports = new ImportCustomizer()
        imports.addImports('org.jenkinsci.plugins.workflow.libs.Library')  // pipeline-groovy-lib LibraryDecorator
        config.addCompilationCustomizers(imports)
        if (scenario.splitting) {
            config.addCompilationCustomizers(new SplittingCheck())
        }
        return config
    }
}

/**
 * What Declarative does with SCRIPT_SPLITTING_TRANSFORMATION=true (RuntimeASTTransformer
 * prepareClosureScopedHandles): a Jenkinsfile whose top level declares local variables (after @Field
 * made fields of the annotated ones) fails to compile with the JENKINS-37984 message.
 */
class SplittingCheck extends CompilationCustomizer {
    SplittingCheck() {
        super(CompilePhase.CANONICALIZATION)
    }

    @Override
    void call(SourceUnit source, GeneratorContext context, ClassNode classNode) throws CompilationFailedException {
        if (!classNode.isScript()) {
            return
        }
        List<String> names = []
        source.AST.statementBlock.statements.each { statement ->
            if (statement instanceof ExpressionStatement && statement.expression instanceof DeclarationExpression) {
                DeclarationExpression declaration = (DeclarationExpression) statement.expression
                if (declaration.leftExpression instanceof VariableExpression) {
                    names << ((VariableExpression) declaration.leftExpression).name
                }
            }
        }
        if (names) {
            throw new IllegalStateException('[JENKINS-37984] SCRIPT_SPLITTING_TRANSFORMATION is an experimental feature ' +
                'of Declarative Pipeline and is incompatible with local variable declarations inside a Jenkinsfile. ' +
                "Local variable declarations found: ${names.sort().join(', ')}. ")
        }
    }
}
