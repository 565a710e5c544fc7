//! The `nnc` command line: argument parsing, printing and exit codes (0 success, 1 an error in the
//! user's input, 2 a usage error). Every piece of logic lives in the library; this file only
//! calls it and prints what it returns.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use nnc::codegen::{self, CodegenOptions};
use nnc::diag::Diagnostic;
use nnc::ir::print_function;
use nnc::lower::spec::{Monitor, BATCH_SIZE, EPOCHS, SEED, TEST_FRACTION, VALIDATION_FRACTION};
use nnc::train::session::{self, Overrides, RunOptions};
use nnc::train::EpochRecord;

#[derive(Parser)]
#[command(
    name = "nnc",
    version,
    about = "Compile and train neural networks described in .nn files",
    long_about = "nnc compiles a declarative .nn model file — layers, loss, optimizer, data and training — \
                  into native code with Cranelift and trains it.\n\nStart with `nnc run examples/iris.nn`; \
                  the language is described in docs/language.md."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Default)]
struct DataArgs {
    /// CSV file to use instead of the one the model file names (relative to the current folder)
    #[arg(long, value_name = "FILE.csv")]
    data: Option<PathBuf>,
    /// Target column to use instead of the one the model file names
    #[arg(long, value_name = "COLUMN")]
    target: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Parse, resolve and shape-check a model file; silent and exit 0 when it is valid
    Check {
        /// The model file
        file: PathBuf,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Print a table of the model's layers, output shapes and parameter counts
    Summary {
        /// The model file
        file: PathBuf,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Print the model's IR: the forward pass, or with --grad the backward pass, or with --step the
    /// whole training step including the optimizer update
    Ir {
        /// The model file
        file: PathBuf,
        /// Print the gradient function that autodiff produced (loss and d_<param> outputs)
        #[arg(long, conflicts_with = "step")]
        grad: bool,
        /// Print the whole training step: forward, loss, backward and optimizer update
        #[arg(long)]
        step: bool,
        /// Print what code generation made of the function instead of the IR
        #[arg(long, value_enum, value_name = "FORMAT")]
        emit: Option<Emit>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Load the data, compile, train, and evaluate on the held-out test split
    Run {
        /// The model file
        file: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        /// Number of epochs, 1 to 1000000 (overrides the file)
        #[arg(long, allow_negative_numbers = true, value_parser = |s: &str| EPOCHS.parse(s))]
        epochs: Option<u64>,
        /// Mini-batch size, 1 to 1048576 (overrides the file)
        #[arg(long, allow_negative_numbers = true, value_parser = |s: &str| BATCH_SIZE.parse(s))]
        batch_size: Option<u64>,
        /// Seed for initialization, splitting and shuffling, 0 to 4294967295 (overrides the file)
        #[arg(long, allow_negative_numbers = true, value_parser = |s: &str| SEED.parse(s))]
        seed: Option<u64>,
        /// Share of the rows held out for the final test, 0 to 0.9 (overrides the file; default 0.2)
        #[arg(
            long,
            value_name = "FRACTION",
            allow_negative_numbers = true,
            value_parser = |s: &str| TEST_FRACTION.parse(s)
        )]
        test_fraction: Option<f64>,
        /// Share of the remaining rows used for validation, 0 to 0.9 (overrides the file; default
        /// 0.1)
        #[arg(
            long,
            value_name = "FRACTION",
            allow_negative_numbers = true,
            value_parser = |s: &str| VALIDATION_FRACTION.parse(s)
        )]
        validation_fraction: Option<f64>,
        /// Run on the reference interpreter (f64) instead of compiled code
        #[arg(long)]
        interp: bool,
        /// Write a JSON report of the run to this file
        #[arg(long, value_name = "FILE.json")]
        report: Option<PathBuf>,
        /// Print only the final metrics, not a line per epoch
        #[arg(long, short)]
        quiet: bool,
    },
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum Emit {
    /// Cranelift IR of the compiled function
    Clif,
    /// Machine instructions of the compiled function
    Asm,
}

/// Write to stdout. A closed pipe (`nnc ir model.nn | head`) ends the program quietly, as it
/// ends any Unix tool, instead of panicking as `println!` does.
fn write_stdout(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("nnc: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

macro_rules! say {
    ($($arg:tt)*) => { write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

macro_rules! say_raw {
    ($($arg:tt)*) => { write_stdout(format_args!($($arg)*)) };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(d) => {
            eprintln!("{:?}", miette::Report::new(d));
            ExitCode::from(1)
        }
    }
}

fn overrides(data: &DataArgs) -> Overrides {
    Overrides {
        data: data.data.clone(),
        target: data.target.clone(),
        ..Default::default()
    }
}

fn dispatch(command: Command) -> Result<(), Diagnostic> {
    match command {
        Command::Check { file, data } => session::build_file(&file, &overrides(&data)).map(|_| ()),
        Command::Summary { file, data } => {
            let program = session::build_file(&file, &overrides(&data))?;
            say_raw!("{}", nnc::summary::summary(&program));
            Ok(())
        }
        Command::Ir {
            file,
            grad,
            step,
            emit,
            data,
        } => {
            let program = session::build_file(&file, &overrides(&data))?;
            let f = if step {
                &program.step
            } else if grad {
                &program.grad
            } else {
                &program.forward
            };
            match emit {
                None => say_raw!("{}", print_function(f)),
                Some(format) => {
                    let opts = CodegenOptions {
                        emit_clif: matches!(format, Emit::Clif),
                        emit_asm: matches!(format, Emit::Asm),
                        ..Default::default()
                    };
                    let compiled = codegen::compile(f, program.spec.train.batch_size, &opts)
                        .map_err(|e| session::codegen_error(&program.spec, e))?;
                    let text = match format {
                        Emit::Clif => compiled.clif_text(),
                        Emit::Asm => compiled.asm_text(),
                    };
                    say_raw!("{}", text.unwrap_or_default());
                }
            }
            Ok(())
        }
        Command::Run {
            file,
            data,
            epochs,
            batch_size,
            seed,
            test_fraction,
            validation_fraction,
            interp,
            report,
            quiet,
        } => {
            let overrides = Overrides {
                epochs,
                batch_size,
                seed,
                test_fraction,
                validation_fraction,
                ..overrides(&data)
            };
            run(&file, overrides, interp, report.as_deref(), quiet)
        }
    }
}

fn run(
    file: &Path,
    overrides: Overrides,
    interp: bool,
    report_path: Option<&Path>,
    quiet: bool,
) -> Result<(), Diagnostic> {
    let opts = RunOptions {
        overrides,
        interpret: interp,
        codegen: CodegenOptions::default(),
    };
    // A bar over the epochs on stderr, drawn only when stderr is a terminal; the epoch lines still
    // go to stdout, printed "above" the bar.
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {elapsed} (eta {eta})")
            .expect("invariant: the progress template is valid"),
    );
    // Up to 20 epochs each gets a line; beyond, every `stride`-th does (about 20 lines), and the
    // first and the last. An epoch where early stopping ends training is printed once it has.
    let epochs = Cell::new(0);
    let stride = Cell::new(1);
    let early_stopping: Cell<Option<(Monitor, bool)>> = Cell::new(None);
    let unprinted: RefCell<Option<EpochRecord>> = RefCell::new(None);
    let outcome = session::run(
        file,
        &opts,
        |spec, program, prepared| {
            epochs.set(spec.train.epochs);
            stride.set(spec.train.epochs.div_ceil(20).max(1));
            early_stopping.set(
                spec.train
                    .early_stopping
                    .as_ref()
                    .map(|e| (e.monitor, e.restore_best)),
            );
            bar.set_length(spec.train.epochs as u64);
            // Time the training, not the data loading before it.
            bar.reset();
            if !quiet {
                say!(
                    "{}: {} parameters; {} train / {} validation / {} test rows; {} epochs of batch {} on the {}",
                    spec.source.name,
                    program.parameter_count(),
                    prepared.train.len(),
                    prepared.validation.len(),
                    prepared.test.len(),
                    spec.train.epochs,
                    spec.train.batch_size,
                    if interp { "interpreter" } else { "JIT" }
                );
            }
        },
        |e| {
            if !quiet {
                if e.epoch == 1 || e.epoch % stride.get() == 0 || e.epoch == epochs.get() {
                    bar.suspend(|| say!("{}", epoch_line(e)));
                    unprinted.replace(None);
                } else {
                    unprinted.replace(Some(e.clone()));
                }
            }
            bar.inc(1);
        },
    );
    bar.finish_and_clear();
    let outcome = outcome?;
    let r = &outcome.report;
    if let Some(e) = unprinted.into_inner() {
        say!("{}", epoch_line(&e));
    }
    if let (Some((monitor, restore_best)), Some(best)) = (early_stopping.get(), r.best_epoch) {
        let value = r
            .history
            .iter()
            .find(|e| e.epoch == best)
            .and_then(|e| e.monitored(monitor))
            .map(|v| format!("{v:.4}"))
            .unwrap_or_else(|| "-".into());
        let restored = if restore_best && best != r.epochs_run {
            ", parameters restored"
        } else {
            ""
        };
        let best = format!("best epoch {best} ({} {value}){restored}", monitor.name());
        if r.stopped_early {
            say!("stopped early at epoch {}; {best}", r.epochs_run);
        } else {
            say!("{best}");
        }
    }
    say!(
        "compiled in {:.1} ms; trained {} epochs in {:.3} s ({:.0} samples/s)",
        r.compile_ms,
        r.epochs_run,
        r.train_seconds,
        r.samples_per_second
    );
    match &r.test {
        None => say!("no test metrics: the test split is empty (test_fraction is 0)"),
        Some(test) => print_test_metrics(test, outcome.test_rows, &r.classes),
    }
    if let Some(path) = report_path {
        r.write_json(path)?;
    }
    Ok(())
}

/// One epoch's line: the losses, the validation metric when measured, the time.
fn epoch_line(e: &EpochRecord) -> String {
    let val = e
        .val_loss
        .map(|v| format!("{v:.4}"))
        .unwrap_or_else(|| "-".into());
    let metric = match (e.val_accuracy, e.val_mae) {
        (Some(a), _) => format!("  val accuracy {a:.4}"),
        (None, Some(m)) => format!("  val mae {m:.4}"),
        (None, None) => String::new(),
    };
    format!(
        "epoch {:>4}  train loss {:.4}  val loss {val}{metric}  {:.3}s",
        e.epoch, e.train_loss, e.seconds
    )
}

fn print_test_metrics(test: &nnc::train::report::TestMetrics, rows: usize, classes: &[String]) {
    say!("test ({rows} rows): loss {:.4}", test.loss);
    if let Some(c) = &test.classification {
        say!(
            "  accuracy {:.4}  precision {:.4}  recall {:.4}  f1 {:.4} (macro)",
            c.accuracy,
            c.precision,
            c.recall,
            c.f1
        );
        say!(
            "  confusion matrix (rows: truth, columns: predicted; {}):",
            classes.join(", ")
        );
        for row in &c.confusion {
            say!(
                "    {}",
                row.iter().map(|n| format!("{n:>5}")).collect::<String>()
            );
        }
    }
    if let Some(m) = &test.regression {
        say!(
            "  mae {:.4}  mse {:.4}  rmse {:.4}  r2 {:.4}",
            m.mae,
            m.mse,
            m.rmse,
            m.r2
        );
    }
}
