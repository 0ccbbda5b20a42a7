# Reads R block files with R's own parser and prints, as one JSON object keyed by path,
# the names each block defines at top level and the symbols it reads.
# Usage: Rscript parse.R FILE...
suppressPackageStartupMessages(library(jsonlite))
# Block files and data are UTF-8; under LC_ALL=C, R would mangle every non-ASCII character.
if (!l10n_info()[["UTF-8"]]) {
  for (locale in c("C.UTF-8", "en_US.UTF-8")) {
    if (nzchar(suppressWarnings(Sys.setlocale("LC_CTYPE", locale)))) break
  }
}

ASSIGN <- c("LEFT_ASSIGN", "EQ_ASSIGN", "RIGHT_ASSIGN")
FUNCTION <- c("FUNCTION", "'\\\\'")  # function(x) and \(x)
# Expressions whose parts run in the block's own environment: an assignment inside them
# is as much the block's as one at top level. A call's arguments are not among them
# (`local`, `with` and friends evaluate elsewhere).
TRANSPARENT <- c("'{'", "'('", "IF", "FOR", "WHILE", "REPEAT")

unquote <- function(text) sub("^`(.*)`$", "\\1", text)  # `my name` is the name my name

first_lines <- function(names, lines) {
  keep <- !duplicated(names)
  as.list(setNames(lines[keep], names[keep]))
}

# Everything below works on whole columns of the parse data (one row per token or
# expression), so a long file costs little more than R's own parse.
analyse_data <- function(data) {
  data <- data[data$token != "COMMENT", ]
  n <- nrow(data)
  up <- match(data$parent, data$id)  # the parent's row; NA at top level
  by_parent <- order(data$parent, data$line1, data$col1)
  inner <- !is.na(up[by_parent])
  first <- last <- rep(NA_integer_, n)
  starts <- by_parent[!duplicated(data$parent[by_parent]) & inner]
  ends <- by_parent[!duplicated(data$parent[by_parent], fromLast = TRUE) & inner]
  first[up[starts]] <- starts
  last[up[ends]] <- ends
  is_function <- seq_len(n) %in% up[data$token %in% FUNCTION]
  transparent <- seq_len(n) %in% up[data$token %in% ASSIGN] |
    data$token[first] %in% TRANSPARENT

  # For every row: the innermost function around it, and whether an expression other than
  # a transparent one lies between it and the top level. One step per level of nesting.
  scope <- rep(NA_integer_, n)
  hidden <- rep(FALSE, n)
  repeat {
    next_scope <- ifelse(is_function[up], up, scope[up])
    next_hidden <- (!is.na(up) & !transparent[up]) | hidden[up] %in% TRUE
    if (identical(next_scope, scope) && identical(next_hidden, hidden)) break
    scope <- next_scope
    hidden <- next_hidden
  }

  # Bindings: assignments to a symbol (`:=`, data.table's, names a column) and loop variables.
  ops <- which(data$token %in% ASSIGN & data$text != ":=")
  node <- up[ops]
  right <- data$token[ops] == "RIGHT_ASSIGN"
  target <- ifelse(right, last[node], first[node])
  value <- ifelse(right, first[node], last[node])
  symbol <- first[target]
  simple <- tabulate(up, n)[target] %in% 1 & data$token[symbol] %in% "SYMBOL"  # not x$a <- 1
  loops <- which(data$token == "SYMBOL" & data$token[up] %in% "forcond")
  bound <- data.frame(
    row = c(symbol[simple], loops),
    line = c(data$line1[node[simple]], data$line1[loops]),
    super = c(data$text[ops[simple]] %in% c("<<-", "->>"), rep(FALSE, length(loops))),
    # Helpers (functions) and loop variables are the block's own but not outputs.
    output = c(!hidden[node[simple]] & !(data$token[first[value[simple]]] %in% FUNCTION),
               rep(FALSE, length(loops))))
  bound <- bound[order(data$line1[bound$row], data$col1[bound$row]), ]
  bound$name <- unquote(data$text[bound$row])
  bound$scope <- scope[bound$row]
  outputs <- bound[bound$output & is.na(bound$scope), ]
  own <- bound$name[is.na(bound$scope)]
  formals <- which(data$token == "SYMBOL_FORMALS")
  local <- c(paste(bound$scope, bound$name)[!is.na(bound$scope) & !bound$super],
             paste(scope[formals], unquote(data$text[formals])))

  terminals <- which(data$terminal)
  terminals <- terminals[order(data$line1[terminals], data$col1[terminals])]
  previous <- head(c("", data$token[terminals]), length(terminals))
  before_previous <- head(c("", "", data$text[terminals]), length(terminals))
  # Names after `$` and `@` are elements and slots, not variables; library(pkg) names a
  # package.
  reads <- terminals[data$token[terminals] == "SYMBOL" & !(previous %in% c("'$'", "'@'")) &
                       !(previous == "'('" & before_previous %in% c("library", "require"))]
  reads <- reads[!(reads %in% bound$row)]
  names <- unquote(data$text[reads])
  # A function's parameters and the names it assigns are local to it, and to the functions
  # inside it.
  keep <- !(names %in% own)
  around <- scope[reads]
  while (any(!is.na(around))) {
    keep <- keep & !(paste(around, names) %in% local)
    around <- scope[around]
  }
  list(defines = first_lines(outputs$name, outputs$line),
       references = first_lines(names[keep], data$line1[reads[keep]]))
}

analyse <- function(path) {
  exprs <- tryCatch(parse(path, keep.source = TRUE, encoding = "UTF-8"),
                    error = function(e) e)
  if (inherits(exprs, "error")) {
    first <- strsplit(conditionMessage(exprs), "\n")[[1]][1]
    located <- regmatches(first, regexec("^.*:([0-9]+):[0-9]+: (.*)$", first))[[1]]
    if (length(located) == 0) return(list(error = first, line = NULL))
    return(list(error = located[3], line = as.integer(located[2])))
  }
  data <- getParseData(exprs)  # text of tokens only: all of it would cost seconds
  if (is.null(data)) return(list(defines = list(), references = list()))
  analyse_data(data)
}

paths <- commandArgs(trailingOnly = TRUE)
result <- lapply(paths, analyse)
names(result) <- paths
cat(toJSON(result, auto_unbox = TRUE, null = "null"))
