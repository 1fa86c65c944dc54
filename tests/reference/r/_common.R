# Helpers shared by the reference scripts in this folder.
script_dir <- function() {
  f <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(f)) dirname(normalizePath(f[1])) else getwd()
}
fev_path <- function() {
  a <- commandArgs(TRUE)
  if (length(a)) return(a[1])
  file.path(script_dir(), "..", "mmrm", "fev_data.csv")  # tests/reference/mmrm: copy of shared/reference/mmrm
}
read_fev <- function() {
  d <- read.csv(fev_path(), stringsAsFactors = FALSE)
  d$AVISIT <- factor(d$AVISIT, levels = c("VIS1", "VIS2", "VIS3", "VIS4"))
  d$ARMCD <- factor(d$ARMCD, levels = c("PBO", "TRT"))
  d$RACE <- factor(d$RACE, levels = c("Asian", "Black or African American", "White"))
  d$SEX <- factor(d$SEX, levels = c("Male", "Female"))
  d$USUBJID <- factor(d$USUBJID, levels = unique(d$USUBJID))
  d
}
session <- function() {
  pk <- c("nlme", "lme4", "lmerTest", "emmeans", "pbkrtest", "glmmTMB")
  c(list(R = R.version.string), setNames(lapply(pk, function(p) as.character(packageVersion(p))), pk))
}
write_ref <- function(x, name) {
  out <- file.path(script_dir(), name)
  jsonlite::write_json(x, out, digits = NA, auto_unbox = TRUE, pretty = TRUE)
  cat("wrote", out, "\n")
}
