"""Spark's side of the read-only shell: the session's own lexer, parser and analyzer.

Statements are cut at the `;` tokens of Spark's SqlBaseLexer (nested comments, quotes and
backslash escapes as Spark reads them), each is parsed with the session's parser (Delta's
commands included) and classified by the class names of its logical plan nodes. A query is
checked again after analysis: it reads only Delta tables under the warehouse and our views.
Path-based reads (text.`/etc/passwd`) are switched off in the session (runSQLOnFiles).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from py4j.protocol import Py4JError
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession

from kafka_dedup.forensics import guard
from kafka_dedup.forensics.engine import QueryError, first_line

NO_FILE_QUERIES = {"spark.sql.runSQLOnFiles": "false"}
# Session settings a reader may change (SET key = value, SET key, RESET key).
SETTABLE = frozenset(
    {"spark.sql.shuffle.partitions", "spark.sql.session.timeZone", "spark.sql.ansi.enabled"}
)
# Logical plan nodes a query is made of, as the parser builds them.
QUERY_NODES = frozenset(
    {
        "Project",
        "Filter",
        "Aggregate",
        "Sort",
        "GlobalLimit",
        "LocalLimit",
        "Offset",
        "Tail",
        "Distinct",
        "Deduplicate",
        "Union",
        "Intersect",
        "Except",
        "Join",
        "LateralJoin",
        "SubqueryAlias",
        "UnresolvedRelation",
        "UnresolvedWith",
        "UnresolvedInlineTable",
        "LocalRelation",
        "OneRowRelation",
        "Generate",
        "WithWindowDefinition",
        "Window",
        "UnresolvedSubqueryColumnAliases",
        "UnresolvedTableValuedFunction",
        "UnresolvedTVFAliases",
        "Pivot",
        "Unpivot",
        "Sample",
        "UnresolvedHaving",
        "RelationTimeTravel",
        "RepartitionByExpression",
        "Repartition",
        "UnresolvedHint",
        "Range",
    }
)
# Commands that only describe; they may name tables, never paths.
DESCRIBING = frozenset(
    {
        "ShowTables",
        "ShowViews",
        "ShowColumns",
        "ShowFunctions",
        "ShowNamespaces",
        "ShowTableProperties",
        "ShowCreateTable",
        "DescribeRelation",
        "DescribeColumn",
        "DescribeFunction",
        "DescribeNamespace",
        "DescribeDeltaHistory",
    }
)
NAMED_OBJECTS = frozenset(
    {
        "UnresolvedTableOrView",
        "UnresolvedTable",
        "UnresolvedView",
        "UnresolvedNamespace",
        "CurrentNamespace$",
        "UnresolvedFunctionName",
    }
)
EXPLAINING = {"ExplainCommand": "logicalPlan", "DescribeQueryCommand": "plan"}
JAVA_CALLS = frozenset({"reflect", "java_method", "try_reflect"})
RESOLVED_LATER = "ExpressionWithUnresolvedIdentifier"  # IDENTIFIER('...'): a name chosen late
SUBQUERY = "org.apache.spark.sql.catalyst.expressions.SubqueryExpression"


def _table_path(table: Any) -> str:
    """A Delta table's location; other v2 tables have none we can vouch for."""
    try:
        return str(table.path().toString())
    except Py4JError:
        return f"a {table.getClass().getSimpleName()} table"


def _seq(scala_seq: Any) -> Iterator[Any]:
    for i in range(scala_seq.size()):
        yield scala_seq.apply(i)


class SparkGuard:
    """Splits and checks statements for one session over one warehouse."""

    def __init__(self, spark: SparkSession, warehouse: str) -> None:
        assert spark._jvm is not None  # a classic (not Connect) session
        self.jvm = spark._jvm
        self.parser = spark._jsparkSession.sessionState().sqlParser()
        self.warehouse = warehouse.rstrip("/") + "/"
        self._subquery = self.jvm.java.lang.Class.forName(SUBQUERY)

    # --- splitting ----------------------------------------------------------------------
    def split(self, text: str) -> guard.Split:
        """Statements ending in a `;` token of Spark's lexer, and the unfinished rest."""
        p = self.jvm.org.apache.spark.sql.catalyst.parser
        chars = p.UpperCaseCharStream(self.jvm.org.antlr.v4.runtime.CharStreams.fromString(text))
        lexer = p.SqlBaseLexer(chars)
        lexer.removeErrorListeners()
        semicolon = p.SqlBaseLexer.SEMICOLON

        def kind(token: Any) -> str:
            if token.getType() == semicolon:
                return guard.SEMICOLON
            # comments and blanks are on the hidden channel
            return guard.CONTENT if token.getChannel() == 0 else guard.BLANK

        tokens = lexer.getAllTokens()
        return guard.cut(text, ((token.getStartIndex(), kind(token)) for token in tokens))

    # --- before running: the parsed plan -------------------------------------------------
    def parse(self, statement: str) -> Any:
        try:
            return self.parser.parsePlan(statement)
        except PySparkException as exc:
            raise QueryError(first_line(exc)) from None

    def check(self, statement: str) -> None:
        """Raise WriteRefusedError unless the statement is a query, EXPLAIN, DESCRIBE or SHOW."""
        plan = self.parse(statement)
        kind = plan.nodeName()
        if kind == "SetCommand":
            kv = plan.kv()
            self._check_setting("SET", kv.get()._1() if kv.isDefined() else None)
        elif kind == "ResetCommand":
            config = plan.config()
            self._check_setting("RESET", config.get() if config.isDefined() else None)
        elif kind in EXPLAINING:
            self._check_query(getattr(plan, EXPLAINING[kind])(), kind)
        elif kind in DESCRIBING:
            for child in _seq(plan.children()):
                if child.nodeName() not in NAMED_OBJECTS:
                    raise guard.refuse(kind, f"{child.nodeName()}: name a table, not a path")
        else:
            self._check_query(plan, "")

    @staticmethod
    def _check_setting(kind: str, key: str | None) -> None:
        if key not in SETTABLE:
            allowed = ", ".join(sorted(SETTABLE))
            raise guard.refuse(kind, f"{key or 'all settings'}; settable: {allowed}")

    def _check_query(self, plan: Any, context: str) -> None:
        """Every node a query node, no Java calls, no late-bound names."""
        name = plan.nodeName()
        if name not in QUERY_NODES:
            raise guard.refuse(name, f"inside {context}" if context else "")
        for expression in _seq(plan.expressions()):
            self._check_expression(expression, context or name)
        for child in [*_seq(plan.children()), *_seq(plan.innerChildren())]:
            self._check_query(child, context or name)

    def _check_expression(self, expression: Any, context: str) -> None:
        name = expression.nodeName()
        if name == "UnresolvedFunction":
            function = str(expression.nameParts().last()).lower()
            if function in JAVA_CALLS:
                raise guard.refuse(context, f"{function}() calls Java code")
        if name == RESOLVED_LATER:
            raise guard.refuse(context, "IDENTIFIER() names are refused")
        if self._subquery.isInstance(expression):
            self._check_query(expression.plan(), context)
        for child in _seq(expression.children()):
            self._check_expression(child, context)

    # --- after analysis: what the query reads --------------------------------------------
    def check_reads(self, analyzed: Any) -> None:
        """Every file relation under the warehouse; our temp views are trusted as built."""
        name = analyzed.nodeName()
        if name == "View" and analyzed.isTempView():
            return
        if name == "LogicalRelation":
            for path in _seq(analyzed.relation().location().rootPaths()):
                self._check_path(str(path.toString()))
        elif name == "DataSourceV2Relation":
            self._check_path(_table_path(analyzed.table()))
        elif name == "HiveTableRelation":
            raise guard.refuse("query", "Hive tables are outside the warehouse")
        for child in [*_seq(analyzed.children()), *_seq(analyzed.innerChildren())]:
            self.check_reads(child)

    def _check_path(self, path: str) -> None:
        local = path.removeprefix("file://").removeprefix("file:")
        if not (local + "/").startswith(self.warehouse):
            raise guard.refuse("query", f"it reads {path}, outside the warehouse")
