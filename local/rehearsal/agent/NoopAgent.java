/**
 * Stands in for LocalStack's ddb-local-loader javaagent, which it would download at start.
 * The real agent only lifts DynamoDB Local's limit of 20 global secondary indexes per table;
 * the template stays far below it, so an agent that does nothing is enough.
 */
public final class NoopAgent {
    private NoopAgent() {
    }

    public static void premain(String args) {
    }
}
