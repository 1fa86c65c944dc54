# The R side of the docs page "R to longmod" (docs/r_to_longmod.md): each R call of the page,
# its printed output (r_to_longmod.txt, one section per call, shown on the page as printed) and
# its numbers in full precision (r_to_longmod.json, compared with longmod's by the tests and on
# the page). Data: lme4's sleepstudy (tests/reference/emmeans/sleepstudy.csv, written from lme4)
# and openpharma/mmrm's fev_data (tests/reference/mmrm/fev_data.csv, Apache-2.0).
# R's mmrm and brms are not in Debian (CRAN is not reachable here): the MMRM is fitted with
# nlme::gls (corSymm + varIdent, the unstructured MMRM); brms is shown, not run.
#   Rscript tests/reference/r_to_longmod/r_to_longmod.R
suppressPackageStartupMessages({library(lmerTest); library(emmeans); library(pbkrtest); library(nlme); library(jsonlite)})
emm_options(pbkrtest.limit = 1e6, lmerTest.limit = 1e6)
here <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
ref <- file.path(here, "..")
txt <- file(file.path(here, "r_to_longmod.txt"), "w")
section <- function(name, expr) {
  writeLines(paste0("## ", name), txt)
  writeLines(capture.output(print(expr)), txt)
  writeLines("", txt)
}
num <- function(x) { x <- as.data.frame(x); for (k in names(x)) if (is.factor(x[[k]])) x[[k]] <- as.character(x[[k]]); as.list(x) }
ctrl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5))
out <- list(source = "tests/reference/r_to_longmod/r_to_longmod.R",
            session = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                           lmerTest = as.character(packageVersion("lmerTest")),
                           emmeans = as.character(packageVersion("emmeans")), nlme = as.character(packageVersion("nlme"))))

# lme4 + lmerTest ------------------------------------------------------------------------------
sleepstudy <- read.csv(file.path(ref, "emmeans", "sleepstudy.csv"))
fit <- lmer(Reaction ~ Days + (1 + Days | Subject), data = sleepstudy, control = ctrl)
s <- summary(fit)  # lmerTest: Satterthwaite df
section("lmer", coef(s))
out$lmer <- list(term = rownames(coef(s)), estimate = unname(coef(s)[, 1]), se = unname(coef(s)[, 2]),
                 df = unname(coef(s)[, 3]), p = unname(coef(s)[, 5]), neg2_log_likelihood = -2 * as.numeric(logLik(fit)))
kr <- summary(fit, ddf = "Kenward-Roger")
section("lmer_kr", coef(kr))
out$lmer_kr <- list(term = rownames(coef(kr)), se = unname(coef(kr)[, 2]), df = unname(coef(kr)[, 3]))

# emmeans on an LMM of fev_data -----------------------------------------------------------------
fev <- read.csv(file.path(ref, "mmrm", "fev_data.csv"), stringsAsFactors = TRUE)
fev$AVISIT <- factor(fev$AVISIT, levels = c("VIS1", "VIS2", "VIS3", "VIS4"))
fev$ARMCD <- factor(fev$ARMCD, levels = c("PBO", "TRT"))
fev$SEX <- factor(fev$SEX, levels = c("Male", "Female"))
lfit <- lmer(FEV1 ~ RACE + SEX + ARMCD * AVISIT + (1 + VISITN | USUBJID), data = fev, control = ctrl)
emm <- emmeans(lfit, ~ ARMCD | AVISIT, lmer.df = "kenward-roger")
section("emmeans", emm)
out$emmeans <- num(summary(emm))
ctr <- confint(contrast(emm, method = "trt.vs.ctrl", adjust = "none"))
section("contrast", ctr)
out$contrast <- num(ctr)
avg <- confint(contrast(emmeans(lfit, ~ ARMCD, at = list(AVISIT = c("VIS3", "VIS4")), lmer.df = "kenward-roger"),
                        method = "trt.vs.ctrl", adjust = "none"))
section("average", avg)
out$average <- num(avg)

# MMRM: nlme::gls with an unstructured covariance (R's mmrm is not in Debian) --------------------
fev2 <- fev[!is.na(fev$FEV1), ]
gfit <- gls(FEV1 ~ RACE + SEX + ARMCD * AVISIT, data = fev2, method = "REML",
            correlation = corSymm(form = ~ as.integer(AVISIT) | USUBJID), weights = varIdent(form = ~ 1 | AVISIT),
            control = glsControl(tolerance = 1e-10, msTol = 1e-10, maxIter = 500, msMaxIter = 500))
tt <- summary(gfit)$tTable
section("gls", tt)
out$gls <- list(term = rownames(tt), estimate = unname(tt[, 1]), se = unname(tt[, 2]),
                neg2_log_likelihood = -2 * as.numeric(logLik(gfit)))
close(txt)
write_json(out, file.path(here, "r_to_longmod.json"), digits = NA, auto_unbox = TRUE, pretty = TRUE)
cat("wrote", file.path(here, "r_to_longmod.txt"), "and r_to_longmod.json\n")
