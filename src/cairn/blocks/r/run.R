# Runs one R block for Cairn. Usage: Rscript run.R WORK_DIR
# WORK_DIR/spec.json names the block file, its inputs (tables as one binary file per column,
# other values as JSON), the outputs to return and the run context. Tables cross as raw
# little-endian vectors (R's own NA codes), strings NUL-terminated with a validity vector:
# exact for every value and fast. The outcome is WORK_DIR/outputs.json or WORK_DIR/error.json.
# The block runs in the global environment, as under Rscript; this script keeps its own
# names in a local() and attaches no package, so the block sees only its inputs and context.
local({
  # Block files and data are UTF-8; under LC_ALL=C, R would mangle every non-ASCII character.
  if (!l10n_info()[["UTF-8"]]) {
    for (locale in c("C.UTF-8", "en_US.UTF-8")) {
      if (nzchar(suppressWarnings(Sys.setlocale("LC_CTYPE", locale)))) break
    }
  }
  fromJSON <- jsonlite::fromJSON
  toJSON <- jsonlite::toJSON
  work <- commandArgs(trailingOnly = TRUE)[1]
  spec <- fromJSON(file.path(work, "spec.json"), simplifyVector = FALSE)
  MESSAGE_MARK <- spec$message_mark

  read_column <- function(column, n) {
    con <- file(file.path(work, column$file), "rb")
    on.exit(close(con))
    type <- column$type
    if (type == "double" || type == "POSIXct") {
      values <- readBin(con, "double", n, size = 8, endian = "little")
      values[is.nan(values)] <- NA  # pandas marks missing numbers with NaN; R with NA
      if (type == "double") return(values)
      return(as.POSIXct(values, origin = "1970-01-01", tz = column$tz))
    }
    if (type == "character") {
      values <- readBin(con, "character", n)
      Encoding(values) <- "UTF-8"
      valid <- readBin(file.path(work, column$valid), "raw", n)
      values[valid == as.raw(0)] <- NA_character_
      return(values)
    }
    values <- readBin(con, "integer", n, size = 4, endian = "little")
    if (type == "logical") return(as.logical(values))
    if (type == "Date") return(as.Date(values, origin = "1970-01-01"))
    values
  }

  read_input <- function(item) {
    if (item$kind == "json") return(fromJSON(item$json, simplifyVector = TRUE))
    columns <- lapply(item$columns, read_column, n = item$rows)
    names(columns) <- vapply(item$columns, function(column) column$name, "")
    list2DF(columns, nrow = item$rows)  # keeps every name as it is, even ""
  }

  write_column <- function(values, name, index, prefix) {
    file <- sprintf("%s.%d.bin", prefix, index)
    con <- file(file.path(work, file), "wb")
    on.exit(close(con))
    column <- list(name = name, file = file)
    if (is.factor(values)) values <- as.character(values)
    if (inherits(values, "POSIXct")) {
      tz <- attr(values, "tzone")
      column$type <- "POSIXct"
      column$tz <- if (is.null(tz) || tz == "") "UTC" else tz
      writeBin(as.double(values), con, size = 8, endian = "little")
    } else if (inherits(values, "Date")) {
      column$type <- "Date"
      writeBin(as.integer(floor(unclass(values))), con, size = 4, endian = "little")
    } else if (is.logical(values)) {
      column$type <- "logical"
      writeBin(as.integer(values), con, size = 4, endian = "little")
    } else if (is.integer(values)) {
      column$type <- "integer"
      writeBin(as.integer(values), con, size = 4, endian = "little")  # drops attributes
    } else if (is.double(values)) {
      column$type <- "double"
      writeBin(as.double(values), con, size = 8, endian = "little")
    } else {
      values <- enc2utf8(as.character(values))
      column$type <- "character"
      column$valid <- sprintf("%s.%d.valid", prefix, index)
      writeBin(as.raw(!is.na(values)), file.path(work, column$valid))
      values[is.na(values)] <- ""
      writeBin(values, con)
    }
    column
  }

  write_output <- function(value, name) {
    if (is.data.frame(value)) {
      # Matrix columns (as aggregate() makes) become one column each: amount.orders, ...
      if (any(vapply(value, is.matrix, TRUE))) value <- do.call(data.frame, value)
      prefix <- paste0("out.", name)
      columns <- mapply(write_column, value, names(value), seq_along(value),
                        MoreArgs = list(prefix = prefix), SIMPLIFY = FALSE, USE.NAMES = FALSE)
      return(list(kind = "table", rows = nrow(value), columns = columns))
    }
    # jsonlite writes at most 15 significant digits; data frames (above) keep every bit.
    json <- tryCatch(toJSON(value, auto_unbox = TRUE, digits = NA, null = "null", na = "null"),
                     error = function(e) NULL)
    if (is.null(json)) {
      message("Warning: output ", name, " (", class(value)[1], ") cannot leave R; not stored")
      return(NULL)
    }
    list(kind = "json", json = as.character(json))
  }

  fail <- function(message, line) {
    writeLines(toJSON(list(message = message, line = line), auto_unbox = TRUE),
               file.path(work, "error.json"))
    quit(save = "no", status = 1)
  }

  for (name in names(spec$inputs)) {
    assign(name, read_input(spec$inputs[[name]]), envir = globalenv())
  }
  assign("context", spec$context, envir = globalenv())

  # Checkpoints: the committed values come in as JSON texts; the values the block sets
  # go back in WORK_DIR/checkpoints.json, written only when every expression succeeded.
  staged <- list()
  as_json <- function(value) {
    as.character(toJSON(value, auto_unbox = TRUE, digits = NA, null = "null", na = "null",
                        POSIXt = "ISO8601", UTC = TRUE))
  }
  # On the search path, as a package's functions would be, not among the block's names.
  api <- new.env()
  api$checkpoint <- function(name, default = NULL) {
    json <- spec$checkpoints[[name]]
    if (is.null(json)) default else fromJSON(json, simplifyVector = TRUE)
  }
  api$set_checkpoint <- function(name, value) {
    staged[[name]] <<- as_json(value)
    invisible(value)
  }
  attach(api, name = "cairn", warn.conflicts = FALSE)

  exprs <- parse(spec$file, keep.source = TRUE, encoding = "UTF-8")
  refs <- attr(exprs, "srcref")
  for (i in seq_along(exprs)) {
    line <- refs[[i]][1]
    tryCatch(
      withCallingHandlers({
        shown <- withVisible(eval(exprs[[i]], globalenv()))
        if (shown$visible) print(shown$value)  # as Rscript prints top-level values
      }, message = function(m) {
        flush(stdout())  # what cat() wrote before the message comes before it in the log
        # Marked, so that Cairn logs it as information: stderr is for warnings and errors.
        text <- strsplit(sub("\n$", "", conditionMessage(m)), "\n", fixed = TRUE)[[1]]
        cat(paste0(MESSAGE_MARK, text, "\n"), sep = "", file = stderr())
        invokeRestart("muffleMessage")
      }, warning = function(w) {
        message("Warning (line ", line, "): ", conditionMessage(w))
        invokeRestart("muffleWarning")
      }),
      error = function(e) {
        call <- conditionCall(e)
        # An error at top level names this script's eval(); Rscript would name no call.
        if (identical(call, quote(eval(exprs[[i]], globalenv())))) call <- NULL
        where <- if (is.null(call)) "" else paste0(" in ", paste(deparse(call), collapse = " "))
        fail(paste0("Error", where, ": ", conditionMessage(e)), line)
      }
    )
    flush(stdout())  # cat() output is buffered: hand it to the log as each expression ends
  }

  outputs <- list()
  for (name in unlist(spec$outputs)) {
    if (exists(name, envir = globalenv(), inherits = FALSE)) {
      value <- get(name, envir = globalenv())
      written <- tryCatch(write_output(value, name), error = function(e) {
        fail(paste0("cannot return output ", name, ": ", conditionMessage(e)), NULL)
      })
      if (!is.null(written)) outputs[[name]] <- written
    }
  }
  writeLines(toJSON(outputs, auto_unbox = TRUE, null = "null"), file.path(work, "outputs.json"))
  writeLines(toJSON(staged, auto_unbox = TRUE), file.path(work, "checkpoints.json"))
})
