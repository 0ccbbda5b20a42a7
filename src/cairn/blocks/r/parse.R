# Reads R block files with R's own parser and prints, as one JSON object keyed by path,
# the names each block defines at top level and the symbols it reads.
# Usage: Rscript parse.R FILE...
suppressPackageStartupMessages(library(jsonlite))

assigned_name <- function(expr) {
  # `x <- v`, `x = v`, `x <<- v`; the parser turns `v -> x` and `v ->> x` into these too.
  # A function assigned at top level is the block's own helper, not an output.
  if (is.call(expr) && length(expr) == 3 && is.symbol(expr[[1]]) &&
      as.character(expr[[1]]) %in% c("<-", "=", "<<-") && is.symbol(expr[[2]])) {
    value <- expr[[3]]
    if (is.call(value) && identical(value[[1]], as.name("function"))) return(NULL)
    return(as.character(expr[[2]]))
  }
  NULL
}

first_lines <- function(names, lines) {
  found <- list()
  for (i in seq_along(names)) {
    if (is.null(found[[names[i]]])) found[[names[i]]] <- lines[i]
  }
  found
}

read_symbols <- function(data) {
  terminals <- data[data$terminal, ]
  terminals <- terminals[order(terminals$line1, terminals$col1), ]
  previous <- c("", head(terminals$token, -1))
  # Names after `$` and `@` are elements and slots, not variables.
  symbols <- terminals[terminals$token == "SYMBOL" & !(previous %in% c("'$'", "'@'")), ]
  # A function's parameters are local to it.
  formals <- terminals[terminals$token == "SYMBOL_FORMALS", ]
  keep <- rep(TRUE, nrow(symbols))
  for (i in seq_len(nrow(formals))) {
    fn <- data[data$id == formals$parent[i], ]
    inside <- (symbols$line1 > fn$line1 | (symbols$line1 == fn$line1 & symbols$col1 >= fn$col1)) &
      (symbols$line2 < fn$line2 | (symbols$line2 == fn$line2 & symbols$col2 <= fn$col2))
    keep <- keep & !(inside & symbols$text == formals$text[i])
  }
  symbols[keep, ]
}

analyse <- function(path) {
  exprs <- tryCatch(parse(path, keep.source = TRUE), error = function(e) e)
  if (inherits(exprs, "error")) {
    message <- conditionMessage(exprs)
    line <- suppressWarnings(as.integer(sub("^[^:]*:([0-9]+):[0-9]+:.*$", "\\1",
                                            strsplit(message, "\n")[[1]][1])))
    return(list(error = message, line = if (is.na(line)) NULL else line))
  }
  refs <- attr(exprs, "srcref")
  names <- character(0)
  lines <- integer(0)
  for (i in seq_along(exprs)) {
    name <- assigned_name(exprs[[i]])
    if (!is.null(name)) {
      names <- c(names, name)
      lines <- c(lines, refs[[i]][1])
    }
  }
  defines <- first_lines(names, lines)
  data <- getParseData(exprs, includeText = TRUE)
  symbols <- if (is.null(data)) data.frame() else read_symbols(data)
  own <- names(defines)
  symbols <- symbols[!(symbols$text %in% own), ]
  list(defines = defines, references = first_lines(symbols$text, symbols$line1))
}

paths <- commandArgs(trailingOnly = TRUE)
result <- lapply(paths, analyse)
names(result) <- paths
cat(toJSON(result, auto_unbox = TRUE, null = "null"))
